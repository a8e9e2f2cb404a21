use crate::{CmdletError, Value};

/// Exchange's documented default: "The default value is 1000."
pub const DEFAULT_RESULT_SIZE: u64 = 1000;

/// How many objects a caller wants, per Exchange's `-ResultSize` semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultSize {
    Limited(u64),
    Unlimited,
}

impl ResultSize {
    /// Reads `-ResultSize` from a parameter value: absent means 1000,
    /// `Unlimited` in any case means no cap, a positive number means that
    /// many; anything else is the client-side error the module also raises.
    pub fn from_param(value: Option<&Value>) -> Result<Self, CmdletError> {
        let n = match value {
            None => return Ok(ResultSize::Limited(DEFAULT_RESULT_SIZE)),
            Some(Value::Text(s)) if s.trim().eq_ignore_ascii_case("unlimited") => {
                return Ok(ResultSize::Unlimited);
            }
            Some(Value::Text(s)) => s.trim().parse::<i64>().map_err(|_| {
                CmdletError::invalid_parameter(format!(
                    "ResultSize must be a positive number or 'Unlimited', not '{s}'"
                ))
            })?,
            Some(Value::Int(n)) => *n,
            Some(other) => {
                return Err(CmdletError::invalid_parameter(format!(
                    "ResultSize must be a positive number or 'Unlimited', not a {}",
                    other.kind()
                )));
            }
        };
        if n <= 0 {
            return Err(CmdletError::invalid_parameter(
                "ResultSize must be greater than 0",
            ));
        }
        Ok(ResultSize::Limited(n as u64))
    }

    /// The cap as a number, `u64::MAX` for unlimited.
    pub fn cap(self) -> u64 {
        match self {
            ResultSize::Limited(n) => n,
            ResultSize::Unlimited => u64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_result_size_means_one_thousand() {
        assert_eq!(
            ResultSize::from_param(None).unwrap(),
            ResultSize::Limited(1000)
        );
    }

    #[test]
    fn unlimited_is_case_insensitive() {
        let v = Value::from("unlimited");
        assert_eq!(
            ResultSize::from_param(Some(&v)).unwrap(),
            ResultSize::Unlimited
        );
    }

    #[test]
    fn numbers_as_text_or_integer_are_accepted() {
        assert_eq!(
            ResultSize::from_param(Some(&Value::from("25"))).unwrap(),
            ResultSize::Limited(25)
        );
        assert_eq!(
            ResultSize::from_param(Some(&Value::Int(7))).unwrap(),
            ResultSize::Limited(7)
        );
    }

    #[test]
    fn zero_or_negative_is_refused_with_the_module_message() {
        let err = ResultSize::from_param(Some(&Value::Int(0))).unwrap_err();
        assert_eq!(
            err,
            CmdletError::invalid_parameter("ResultSize must be greater than 0")
        );
    }
}
