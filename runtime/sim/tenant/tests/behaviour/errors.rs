use exorun_cmdlet::{Call, CmdletError};
use serde_json::json;

use crate::{fail, tenant};

#[test]
fn not_found_body_is_the_captured_shape() {
    let t = tenant();
    let err = fail(
        &t,
        Call::new("Get-Mailbox").param("Identity", "jdoe@contoso.onmicrosoft.com"),
    );
    assert_eq!(err.status, 404);
    assert_eq!(
        err.to_body(),
        json!({"error": {
            "code": "NotFound",
            "message": "Error executing cmdlet",
            "details": [{"code": "Client", "target": "",
                "message": "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'jdoe@contoso.onmicrosoft.com' couldn't be found on 'EMU01A001DC001.EMUPR01A001.PROD.OUTLOOK.COM'."}],
            "innererror": {
                "message": "Error executing cmdlet",
                "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                "stacktrace": "",
                "internalexception": {
                    "message": "Exception of type 'Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException' was thrown.",
                    "type": "Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException",
                    "stacktrace": ""
                }
            },
            "adminapi.warnings@odata.type": "#Collection(String)",
            "@adminapi.warnings": []
        }})
    );
    assert_eq!(
        err.to_cmdlet_error(),
        CmdletError::NotFound {
            message: "The operation couldn't be performed because object 'jdoe@contoso.onmicrosoft.com' couldn't be found on 'EMU01A001DC001.EMUPR01A001.PROD.OUTLOOK.COM'.".into()
        }
    );
}

#[test]
fn ambiguous_body_carries_the_message_in_details() {
    let t = tenant();
    let err = fail(&t, Call::new("Get-Mailbox").param("Identity", "reception"));
    assert_eq!(err.status, 400);
    let body = err.to_body();
    assert_eq!(body["error"]["code"], "BadRequest");
    assert_eq!(
        body["error"]["details"][0]["message"],
        "Ex9E65A2|Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException|The operation couldn't be performed because object 'reception' matches multiple entries."
    );
    assert!(matches!(
        err.to_cmdlet_error(),
        CmdletError::Ambiguous { .. }
    ));
}

#[test]
fn unknown_parameter_body_carries_the_message_in_the_internal_exception() {
    let t = tenant();
    let err = fail(
        &t,
        Call::new("Get-Mailbox")
            .param("Identity", "admin")
            .param("Bogus", "x"),
    );
    assert_eq!(err.status, 400);
    assert_eq!(
        err.to_body(),
        json!({"error": {
            "code": "BadRequest",
            "message": "Error executing cmdlet",
            "details": [],
            "innererror": {
                "message": "Error executing cmdlet",
                "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                "stacktrace": "",
                "internalexception": {
                    "message": "NamedParameterNotFound|System.Management.Automation.ParameterBindingException|A parameter cannot be found that matches parameter name 'Bogus'.",
                    "type": "System.Management.Automation.ParameterBindingException",
                    "stacktrace": ""
                }
            },
            "adminapi.warnings@odata.type": "#Collection(String)",
            "@adminapi.warnings": []
        }})
    );
    assert_eq!(
        err.to_cmdlet_error(),
        CmdletError::InvalidParameter {
            message: "A parameter cannot be found that matches parameter name 'Bogus'.".into()
        }
    );
}

#[test]
fn unknown_cmdlet_is_a_403_naming_the_term() {
    let t = tenant();
    let err = fail(&t, Call::new("Get-Nonsense"));
    assert_eq!(err.status, 403);
    assert_eq!(
        err.to_body()["error"]["details"][0]["message"],
        "CommandNotFoundException|System.Management.Automation.CommandNotFoundException|The term 'Get-Nonsense' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
    );
    assert_eq!(err.to_body()["error"]["code"], "Forbidden");
    assert!(matches!(
        err.to_cmdlet_error(),
        CmdletError::Forbidden { .. }
    ));
}

#[test]
fn cmdlet_and_parameter_names_ignore_case() {
    let t = tenant();
    let call = Call::new("get-MAILBOX")
        .param("identity", "admin")
        .param("RESULTSIZE", "unlimited");
    assert!(t.execute(&crate::admin(), &call).is_ok());
}

#[test]
fn invalid_enum_value_lists_the_allowed_names() {
    let t = tenant();
    let err = fail(
        &t,
        Call::new("Set-MailboxAutoReplyConfiguration")
            .param("Identity", "admin")
            .param("AutoReplyState", "Sometimes"),
    );
    assert_eq!(err.status, 400);
    assert!(
        err.message.starts_with(
            "Cannot bind parameter 'AutoReplyState'. Cannot convert value \"Sometimes\""
        )
    );
    assert!(
        err.message.ends_with("Disabled, Enabled, Scheduled\""),
        "{}",
        err.message
    );
    assert!(matches!(
        err.to_cmdlet_error(),
        CmdletError::InvalidParameter { .. }
    ));
}

#[test]
fn missing_mandatory_parameter_is_refused() {
    let t = tenant();
    let err = fail(&t, Call::new("Get-MailboxStatistics"));
    assert_eq!(
        err.message,
        "Cannot process command because of one or more missing mandatory parameters: Identity."
    );
}

#[test]
fn wrongly_typed_value_is_an_invalid_parameter() {
    let t = tenant();
    let err = fail(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "admin")
            .param("HiddenFromAddressListsEnabled", "maybe"),
    );
    assert_eq!(
        err.message,
        "Cannot process argument transformation on parameter 'HiddenFromAddressListsEnabled'. Cannot convert value \"maybe\" to type \"System.Boolean\"."
    );
}
