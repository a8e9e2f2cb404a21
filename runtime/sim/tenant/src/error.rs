//! Errors exactly as Exchange Online reports them (docs/protocol.md, "Error payloads").

use exorun_cmdlet::CmdletError;
use serde_json::json;

/// The fake domain controller named in not-found texts, shaped like the real
/// `YQBPR01A12DC007.CANPR01A012.PROD.OUTLOOK.COM` so that scripts which
/// regex the message keep working.
pub const DOMAIN_CONTROLLER: &str = "EMU01A001DC001.EMUPR01A001.PROD.OUTLOOK.COM";

const NOT_FOUND_CLASS: &str =
    "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException";
// The capture quotes the not-found class for Ex9E65A2; the ambiguity class is
// the usual one (unverified), which is what clients split out of the message.
const AMBIGUOUS_CLASS: &str =
    "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException";
const PARAMETER_CLASS: &str = "System.Management.Automation.ParameterBindingException";
const COMMAND_NOT_FOUND_CLASS: &str = "System.Management.Automation.CommandNotFoundException";
// (unverified) The real service answers a cmdlet outside the caller's roles
// with an empty 403; a body naming the reason is more useful to a plugin.
const ACCESS_DENIED_CLASS: &str = "Microsoft.Exchange.Configuration.Tasks.AccessDeniedException";
const MEMBER_EXISTS_CLASS: &str =
    "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException";
const MEMBER_NOT_FOUND_CLASS: &str = "Microsoft.Exchange.Management.Tasks.MemberNotFoundException";
const TASK_CLASS: &str = "Microsoft.Exchange.Configuration.Tasks.TaskArgumentException";

/// Which member of the error body carries the `stringId|class|text` message;
/// the module looks in `details[0]` for task failures and in
/// `innererror.internalexception` for parameter binding failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageLocation {
    Details,
    InternalException,
}

/// An error exactly as Exchange would report it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct ExoError {
    pub status: u16,
    pub code: String,
    pub string_id: String,
    pub class: String,
    pub message: String,
    pub location: MessageLocation,
}

impl ExoError {
    fn new(
        status: u16,
        code: &str,
        string_id: &str,
        class: &str,
        message: String,
        location: MessageLocation,
    ) -> Self {
        ExoError {
            status,
            code: code.to_owned(),
            string_id: string_id.to_owned(),
            class: class.to_owned(),
            message,
            location,
        }
    }

    /// `Ex6F9304`: no object answers to the identity.
    pub fn not_found(identity: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            "Ex6F9304",
            NOT_FOUND_CLASS,
            format!(
                "The operation couldn't be performed because object '{identity}' couldn't be found on '{DOMAIN_CONTROLLER}'."
            ),
            MessageLocation::Details,
        )
    }

    /// `Ex9E65A2`: more than one object answers to the identity.
    /// Status 400 is a guess (unverified); the body shape is the captured one.
    pub fn ambiguous(identity: &str) -> Self {
        Self::new(
            400,
            "BadRequest",
            "Ex9E65A2",
            AMBIGUOUS_CLASS,
            format!(
                "The operation couldn't be performed because object '{identity}' matches multiple entries."
            ),
            MessageLocation::Details,
        )
    }

    /// PowerShell's binder refused a parameter name.
    pub fn unknown_parameter(name: &str) -> Self {
        Self::parameter(
            "NamedParameterNotFound",
            format!("A parameter cannot be found that matches parameter name '{name}'."),
        )
    }

    /// A mandatory parameter is absent.
    pub fn missing_parameter(name: &str) -> Self {
        Self::parameter(
            "MissingMandatoryParameter",
            format!(
                "Cannot process command because of one or more missing mandatory parameters: {name}."
            ),
        )
    }

    /// A value could not be converted to the parameter's type.
    pub fn invalid_value(name: &str, detail: impl std::fmt::Display) -> Self {
        Self::parameter(
            "ParameterArgumentTransformationError",
            format!("Cannot process argument transformation on parameter '{name}'. {detail}"),
        )
    }

    /// A value outside an enumeration, worded like PowerShell's enum binder.
    pub fn invalid_enum(name: &str, value: &str, type_name: &str, allowed: &[&str]) -> Self {
        Self::parameter(
            "CannotConvertArgumentNoMessage",
            format!(
                "Cannot bind parameter '{name}'. Cannot convert value \"{value}\" to type \"{type_name}\". Error: \"Unable to match the identifier name {value} to a valid enumerator name. Specify one of the following enumerator names and try again:\r\n{}\"",
                allowed.join(", ")
            ),
        )
    }

    fn parameter(string_id: &str, message: String) -> Self {
        Self::new(
            400,
            "BadRequest",
            string_id,
            PARAMETER_CLASS,
            message,
            MessageLocation::InternalException,
        )
    }

    /// The task itself refused its arguments (bad address, bad time range, ...).
    pub fn task_argument(message: impl Into<String>) -> Self {
        Self::new(
            400,
            "BadRequest",
            "",
            TASK_CLASS,
            message.into(),
            MessageLocation::Details,
        )
    }

    /// No such cmdlet. The live service reportedly answers 403 (the cmdlet is
    /// not among the caller's exported ones) with an unreadable body
    /// (unverified); we keep the 403 and send a readable body.
    pub fn unknown_cmdlet(cmdlet: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            "CommandNotFoundException",
            COMMAND_NOT_FOUND_CLASS,
            format!(
                "The term '{cmdlet}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
            ),
            MessageLocation::Details,
        )
    }

    /// Exchange's RBAC refused the caller (section 3.6, step 2).
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(
            403,
            "Forbidden",
            "AccessDenied",
            ACCESS_DENIED_CLASS,
            message.into(),
            MessageLocation::Details,
        )
    }

    /// Adding a recipient that is already in the group (stringId unverified).
    pub fn member_already_exists(member: &str, group: &str) -> Self {
        Self::new(
            400,
            "BadRequest",
            "ExB0AAB2",
            MEMBER_EXISTS_CLASS,
            format!("The recipient \"{member}\" is already a member of the group \"{group}\"."),
            MessageLocation::Details,
        )
    }

    /// Removing a recipient that is not in the group (wording unverified).
    pub fn member_not_found(member: &str, group: &str) -> Self {
        Self::new(
            400,
            "BadRequest",
            "ExC6D3B1",
            MEMBER_NOT_FOUND_CLASS,
            format!(
                "Couldn't find object \"{member}\". Please make sure that it was spelled correctly or specify a different object. The recipient \"{member}\" isn't a member of the group \"{group}\"."
            ),
            MessageLocation::Details,
        )
    }

    /// The `stringId|class|text` form that clients split on `|`.
    pub fn wire_message(&self) -> String {
        format!("{}|{}|{}", self.string_id, self.class, self.message)
    }

    /// The full JSON error body of protocol section 2.7.
    pub fn to_body(&self) -> serde_json::Value {
        let internal_type =
            "Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException";
        let (details, internal_message) = match self.location {
            MessageLocation::Details => (
                json!([{"code": "Client", "target": "", "message": self.wire_message()}]),
                format!("Exception of type '{internal_type}' was thrown."),
            ),
            MessageLocation::InternalException => (json!([]), self.wire_message()),
        };
        let internal_type = match self.location {
            MessageLocation::Details => internal_type,
            MessageLocation::InternalException => self.class.as_str(),
        };
        json!({"error": {
            "code": self.code,
            "message": "Error executing cmdlet",
            "details": details,
            "innererror": {
                "message": "Error executing cmdlet",
                "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                "stacktrace": "",
                "internalexception": {
                    "message": internal_message,
                    "type": internal_type,
                    "stacktrace": ""
                }
            },
            "adminapi.warnings@odata.type": "#Collection(String)",
            "@adminapi.warnings": []
        }})
    }

    /// The plugin-facing error, chosen by what went wrong rather than by text.
    pub fn to_cmdlet_error(&self) -> CmdletError {
        let message = self.message.clone();
        match (self.status, self.class.as_str()) {
            (_, NOT_FOUND_CLASS) => CmdletError::NotFound { message },
            (_, AMBIGUOUS_CLASS) => CmdletError::Ambiguous { message },
            (_, PARAMETER_CLASS) => CmdletError::InvalidParameter { message },
            (403, _) => CmdletError::Forbidden { message },
            _ => CmdletError::Failed {
                code: self.class.rsplit('.').next().unwrap_or_default().to_owned(),
                message,
            },
        }
    }
}

/// Why a tenant file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TenantFileError {
    #[error("tenant file is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    #[error("tenant file: at {path}: {message}")]
    Shape { path: String, message: String },
    #[error("tenant file: {0}")]
    Inconsistent(String),
}
