//! The OPATH `-Filter` subset scripts use: `-eq -ne -like -notlike -gt -ge
//! -lt -le`, `-and -or -not`, parentheses, `$true $false $null`, single or
//! double quotes. Filters are evaluated against the rendered object, so any
//! property Exchange prints can be filtered on, with the same spelling.

use serde_json::Value;

use crate::error::ExoError;

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Compare {
        property: String,
        op: Op,
        literal: Literal,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Null,
    Text(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Dash(String),
    Dollar(String),
    Quoted(String),
    Word(String),
}

fn syntax_error(filter: &str, position: usize) -> ExoError {
    ExoError::invalid_value(
        "Filter",
        format!(
            "Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\": \"Invalid filter syntax. For a description of the filter parameter syntax see the command help.\r\n\"{filter}\" at position {}.\"",
            position + 1
        ),
    )
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ExoError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, ch) = chars[i];
        match ch {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push((pos, Token::Open));
                i += 1;
            }
            ')' => {
                tokens.push((pos, Token::Close));
                i += 1;
            }
            '\'' | '"' => {
                let quote = ch;
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(syntax_error(text, pos)),
                        Some((_, c)) if *c == quote => {
                            // A doubled quote is an escaped quote.
                            if chars.get(i + 1).map(|(_, c)| *c) == Some(quote) {
                                value.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some((_, c)) => {
                            value.push(*c);
                            i += 1;
                        }
                    }
                }
                tokens.push((pos, Token::Quoted(value)));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].1.is_whitespace()
                    && !matches!(chars[i].1, '(' | ')' | '\'' | '"')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, c)| *c).collect();
                let token = if let Some(rest) = word
                    .strip_prefix('-')
                    .filter(|r| r.chars().all(char::is_alphabetic) && !r.is_empty())
                {
                    Token::Dash(rest.to_ascii_lowercase())
                } else if let Some(rest) = word.strip_prefix('$') {
                    Token::Dollar(rest.to_ascii_lowercase())
                } else {
                    Token::Word(word)
                };
                tokens.push((pos, token));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<(usize, Token)>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn error_here(&self) -> ExoError {
        let position = self
            .tokens
            .get(self.at)
            .map_or(self.text.len(), |(p, _)| *p);
        syntax_error(self.text, position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Filter, ExoError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Dash("or".into())) {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ExoError> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Token::Dash("and".into())) {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ExoError> {
        match self.peek() {
            Some(Token::Dash(d)) if d == "not" => {
                self.at += 1;
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some(Token::Open) => {
                self.at += 1;
                let inner = self.or()?;
                if self.next() != Some(Token::Close) {
                    self.at -= 1;
                    return Err(self.error_here());
                }
                Ok(inner)
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Filter, ExoError> {
        let property = match self.peek() {
            Some(Token::Word(w)) => w.clone(),
            _ => return Err(self.error_here()),
        };
        self.at += 1;
        let op = match self.peek() {
            Some(Token::Dash(d)) => match d.as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "like" => Op::Like,
                "notlike" => Op::NotLike,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                _ => return Err(self.error_here()),
            },
            _ => return Err(self.error_here()),
        };
        self.at += 1;
        let literal = match self.peek() {
            Some(Token::Quoted(q)) => Literal::Text(q.clone()),
            Some(Token::Word(w)) => Literal::Text(w.clone()),
            Some(Token::Dollar(d)) => match d.as_str() {
                "true" => Literal::Text("True".into()),
                "false" => Literal::Text("False".into()),
                "null" => Literal::Null,
                _ => return Err(self.error_here()),
            },
            _ => return Err(self.error_here()),
        };
        self.at += 1;
        Ok(Filter::Compare {
            property,
            op,
            literal,
        })
    }
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, ExoError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            text,
            tokens,
            at: 0,
        };
        let filter = parser.or()?;
        if parser.at < parser.tokens.len() {
            return Err(parser.error_here());
        }
        Ok(filter)
    }

    /// Whether the rendered object matches; a property the object does not
    /// have is refused as Exchange refuses it.
    pub fn matches(&self, object: &Value) -> Result<bool, ExoError> {
        match self {
            Filter::And(a, b) => Ok(a.matches(object)? && b.matches(object)?),
            Filter::Or(a, b) => Ok(a.matches(object)? || b.matches(object)?),
            Filter::Not(inner) => Ok(!inner.matches(object)?),
            Filter::Compare {
                property,
                op,
                literal,
            } => {
                let value = lookup(object, property).ok_or_else(|| {
                    ExoError::invalid_value(
                        "Filter",
                        format!("Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\": \"'{property}' is not a recognized filterable property. For a description of the filter parameter syntax see the command help.\""),
                    )
                })?;
                Ok(compare(value, *op, literal))
            }
        }
    }
}

/// A property by name, case-insensitively, skipping annotations.
pub fn lookup<'v>(object: &'v Value, property: &str) -> Option<&'v Value> {
    let map = object.as_object()?;
    map.get(property).or_else(|| {
        map.iter()
            .find(|(k, _)| !k.contains('@') && k.eq_ignore_ascii_case(property))
            .map(|(_, v)| v)
    })
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn compare(value: &Value, op: Op, literal: &Literal) -> bool {
    if let Value::Array(items) = value {
        let any = |op| items.iter().any(|item| compare(item, op, literal));
        return match (op, literal) {
            (Op::Eq, Literal::Null) => items.is_empty(),
            (Op::Ne, Literal::Null) => !items.is_empty(),
            (Op::Ne, _) => !any(Op::Eq),
            (Op::NotLike, _) => !any(Op::Like),
            _ => any(op),
        };
    }
    let actual = scalar_text(value);
    let expected = match literal {
        Literal::Null => None,
        Literal::Text(t) => Some(t.as_str()),
    };
    match (op, actual, expected) {
        (Op::Eq, None, None) => true,
        (Op::Ne, None, None) => false,
        (Op::Eq, a, e) => a.is_some_and(|a| {
            e.is_some_and(|e| a.eq_ignore_ascii_case(e) || a.to_lowercase() == e.to_lowercase())
        }),
        (Op::Ne, a, e) => !compare(
            &a.map_or(Value::Null, Value::String),
            Op::Eq,
            &e.map_or(Literal::Null, |e| Literal::Text(e.to_owned())),
        ),
        (Op::Like, Some(a), Some(p)) => wildcard(&p.to_lowercase(), &a.to_lowercase()),
        (Op::NotLike, a, e) => !compare(
            &a.map_or(Value::Null, Value::String),
            Op::Like,
            &e.map_or(Literal::Null, |e| Literal::Text(e.to_owned())),
        ),
        (Op::Gt | Op::Ge | Op::Lt | Op::Le, Some(a), Some(e)) => {
            let ordering = order(&a, e);
            match op {
                Op::Gt => ordering.is_gt(),
                Op::Ge => ordering.is_ge(),
                Op::Lt => ordering.is_lt(),
                _ => ordering.is_le(),
            }
        }
        _ => false,
    }
}

/// Numbers compare as numbers, dates as dates, the rest as text.
fn order(actual: &str, expected: &str) -> std::cmp::Ordering {
    if let (Ok(a), Ok(e)) = (actual.parse::<f64>(), expected.parse::<f64>()) {
        return a.total_cmp(&e);
    }
    if let (Some(a), Some(e)) = (crate::time::parse(actual), crate::time::parse(expected)) {
        return a.cmp(&e);
    }
    actual.to_lowercase().cmp(&expected.to_lowercase())
}

/// `*` matches any run of characters; everything else matches itself.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object() -> Value {
        json!({
            "Name": "jdoe",
            "RecipientTypeDetails": "SharedMailbox",
            "ForwardingSmtpAddress": null,
            "HiddenFromAddressListsEnabled": false,
            "EmailAddresses@odata.type": "#Collection(String)",
            "EmailAddresses": ["SMTP:jdoe@contoso.com", "smtp:jdoe@fabrikam.com"],
            "WhenCreated": "2022-06-29T17:57:03.0000000+00:00"
        })
    }

    fn eval(text: &str) -> bool {
        Filter::parse(text).unwrap().matches(&object()).unwrap()
    }

    #[test]
    fn equality_ignores_case_and_quote_style() {
        assert!(eval("RecipientTypeDetails -eq 'sharedmailbox'"));
        assert!(eval("recipienttypedetails -eq \"SharedMailbox\""));
        assert!(!eval("RecipientTypeDetails -ne 'SharedMailbox'"));
    }

    #[test]
    fn null_and_boolean_literals() {
        assert!(eval("ForwardingSmtpAddress -eq $null"));
        assert!(!eval("ForwardingSmtpAddress -ne $null"));
        assert!(eval("HiddenFromAddressListsEnabled -eq $false"));
        assert!(eval("HiddenFromAddressListsEnabled -eq 'False'"));
    }

    #[test]
    fn like_matches_wildcards_and_any_element_of_a_list() {
        assert!(eval("Name -like 'j*'"));
        assert!(eval("Name -like '*do*'"));
        assert!(!eval("Name -like 'x*'"));
        assert!(eval("EmailAddresses -like '*@fabrikam.com'"));
        assert!(eval("EmailAddresses -notlike '*@example.com'"));
    }

    #[test]
    fn boolean_operators_and_parentheses_nest() {
        assert!(eval(
            "(Name -eq 'x' -or Name -eq 'jdoe') -and -not (RecipientTypeDetails -eq 'UserMailbox')"
        ));
        assert!(!eval("-not (Name -eq 'jdoe')"));
    }

    #[test]
    fn dates_compare_chronologically() {
        assert!(eval("WhenCreated -gt '2022-01-01'"));
        assert!(!eval("WhenCreated -lt '01/01/2022'"));
    }

    #[test]
    fn malformed_filters_report_the_position() {
        let err = Filter::parse("Name -eq").unwrap_err();
        assert!(err.message.contains("at position 9."), "{}", err.message);
        assert!(Filter::parse("(Name -eq 'a'").is_err());
        assert!(Filter::parse("Name -foo 'a'").is_err());
        assert!(Filter::parse("Name -eq 'unterminated").is_err());
    }

    #[test]
    fn unknown_properties_are_refused() {
        let err = Filter::parse("Bogus -eq 'a'")
            .unwrap()
            .matches(&object())
            .unwrap_err();
        assert!(
            err.message
                .contains("'Bogus' is not a recognized filterable property")
        );
    }
}
