//! The recipient filter of a `[scope]`, in the style of Exchange's
//! `RecipientRestrictionFilter`: a documented subset of OPATH, small enough
//! to evaluate in the host exactly as written and to hand to Exchange as a
//! management scope (`exorun rbac plan`).
//!
//! ```text
//! Department -eq 'Sales' -and -not (CustomAttribute1 -eq 'vip')
//! PrimarySmtpAddress -like '*@eu.contoso.com' -or MemberOfGroup -eq 'sales-team@contoso.com'
//! ```
//!
//! Properties: `Department`, `CustomAttribute1`–`CustomAttribute15`,
//! `RecipientTypeDetails`, `PrimarySmtpAddress` (with `-eq -ne -like
//! -notlike`) and `MemberOfGroup` (with `-eq -ne`); `-and -or -not`,
//! parentheses, single- or double-quoted values. Names and values compare
//! ignoring case, as Exchange does.

use crate::ordinal;

/// The longest filter text read, and the deepest nesting: a filter is a
/// line or two, and a hostile manifest must not make the parser recurse
/// without end.
pub const MAX_FILTER_BYTES: usize = 4096;
const MAX_DEPTH: usize = 32;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    Compare {
        property: Property,
        op: Op,
        value: String,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// A recipient property a scope may test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Property {
    Department,
    /// `CustomAttribute1` to `CustomAttribute15`.
    CustomAttribute(u8),
    RecipientTypeDetails,
    PrimarySmtpAddress,
    /// Membership of a group, named by any identity Exchange resolves.
    MemberOfGroup,
}

impl Property {
    fn parse(name: &str) -> Option<Property> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "department" => Some(Property::Department),
            "recipienttypedetails" => Some(Property::RecipientTypeDetails),
            "primarysmtpaddress" => Some(Property::PrimarySmtpAddress),
            "memberofgroup" => Some(Property::MemberOfGroup),
            _ => {
                let digits = lower.strip_prefix("customattribute")?;
                if digits.starts_with('0') {
                    return None;
                }
                let n: u8 = digits.parse().ok()?;
                (1..=15)
                    .contains(&n)
                    .then_some(Property::CustomAttribute(n))
            }
        }
    }

    /// The property's name as Exchange spells it in objects and filters.
    pub fn name(&self) -> String {
        match self {
            Property::Department => "Department".into(),
            Property::CustomAttribute(n) => format!("CustomAttribute{n}"),
            Property::RecipientTypeDetails => "RecipientTypeDetails".into(),
            Property::PrimarySmtpAddress => "PrimarySmtpAddress".into(),
            Property::MemberOfGroup => "MemberOfGroup".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "-eq",
            Op::Ne => "-ne",
            Op::Like => "-like",
            Op::NotLike => "-notlike",
        }
    }
}

/// What a filter needs to know of one recipient.
pub trait Facts {
    /// The value of a property (never [`Property::MemberOfGroup`]);
    /// `None` when the tenant did not say, and then the filter cannot
    /// decide.
    fn value(&self, property: Property) -> Option<&str>;
    /// Whether the recipient is a member of `group`; `None` when that
    /// cannot be found out.
    fn member_of(&self, group: &str) -> Option<bool>;
}

impl Filter {
    /// Parses filter text, with an error that says what to fix.
    pub fn parse(text: &str) -> Result<Filter, String> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(format!(
                "the filter is longer than {MAX_FILTER_BYTES} bytes"
            ));
        }
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err("the filter is empty".into());
        }
        let mut parser = Parser { tokens, at: 0 };
        let filter = parser.or(0)?;
        match parser.tokens.get(parser.at) {
            None => Ok(filter),
            Some(t) => Err(format!("unexpected {} after a complete filter", t.show())),
        }
    }

    /// Whether `facts` pass. `Err` names what could not be decided: a
    /// property the tenant did not return, or a group whose members could
    /// not be read. The caller refuses then (fail closed).
    pub fn matches(&self, facts: &dyn Facts) -> Result<bool, String> {
        Ok(match self {
            Filter::And(a, b) => a.matches(facts)? && b.matches(facts)?,
            Filter::Or(a, b) => a.matches(facts)? || b.matches(facts)?,
            Filter::Not(a) => !a.matches(facts)?,
            Filter::Compare {
                property: Property::MemberOfGroup,
                op,
                value,
            } => {
                let member = facts
                    .member_of(value)
                    .ok_or_else(|| format!("the members of '{value}' could not be read"))?;
                if *op == Op::Eq { member } else { !member }
            }
            Filter::Compare {
                property,
                op,
                value,
            } => {
                let actual = facts
                    .value(*property)
                    .ok_or_else(|| format!("the tenant did not return {}", property.name()))?;
                match op {
                    Op::Eq => ordinal::eq_ignore_case(actual, value),
                    Op::Ne => !ordinal::eq_ignore_case(actual, value),
                    Op::Like => like(value, actual),
                    Op::NotLike => !like(value, actual),
                }
            }
        })
    }

    /// The groups `MemberOfGroup` names, for prefetching their members.
    pub fn groups(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |f| {
            if let Filter::Compare {
                property: Property::MemberOfGroup,
                value,
                ..
            } = f
            {
                out.push(value.as_str());
            }
        });
        out
    }

    /// The same filter with each `MemberOfGroup` value replaced by
    /// `rename(value)`: Exchange's management scopes name a group by its
    /// distinguished name, a manifest by any identity.
    pub fn with_groups(&self, rename: &dyn Fn(&str) -> String) -> Filter {
        match self {
            Filter::Compare {
                property: Property::MemberOfGroup,
                op,
                value,
            } => Filter::Compare {
                property: Property::MemberOfGroup,
                op: *op,
                value: rename(value),
            },
            Filter::Compare { .. } => self.clone(),
            Filter::And(a, b) => Filter::And(
                Box::new(a.with_groups(rename)),
                Box::new(b.with_groups(rename)),
            ),
            Filter::Or(a, b) => Filter::Or(
                Box::new(a.with_groups(rename)),
                Box::new(b.with_groups(rename)),
            ),
            Filter::Not(a) => Filter::Not(Box::new(a.with_groups(rename))),
        }
    }

    /// The properties the filter reads.
    pub fn properties(&self) -> Vec<Property> {
        let mut out = Vec::new();
        self.visit(&mut |f| {
            if let Filter::Compare { property, .. } = f
                && !out.contains(property)
            {
                out.push(*property);
            }
        });
        out
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Filter)) {
        f(self);
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Filter::Not(a) => a.visit(f),
            Filter::Compare { .. } => {}
        }
    }
}

impl std::fmt::Display for Filter {
    /// The filter as OPATH, fully parenthesized, values single-quoted with
    /// `'` doubled: safe to paste into a `-RecipientRestrictionFilter`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::Compare {
                property,
                op,
                value,
            } => write!(
                f,
                "{} {} '{}'",
                property.name(),
                op.text(),
                value.replace('\'', "''")
            ),
            Filter::And(a, b) => write!(f, "({a}) -and ({b})"),
            Filter::Or(a, b) => write!(f, "({a}) -or ({b})"),
            Filter::Not(a) => write!(f, "-not ({a})"),
        }
    }
}

/// `-like`: `*` any run, `?` one character, ignoring case.
fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    crate::wildcard::matches(&p, &t, '*', Some('?'), |a, b| {
        a == b || ordinal::eq_ignore_case(a.encode_utf8(&mut [0; 4]), b.encode_utf8(&mut [0; 4]))
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Op(Op),
    Word(String),
    Quoted(String),
}

impl Token {
    fn show(&self) -> String {
        match self {
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::And => "-and".into(),
            Token::Or => "-or".into(),
            Token::Not => "-not".into(),
            Token::Op(op) => op.text().into(),
            Token::Word(w) => format!("'{w}'"),
            Token::Quoted(q) => format!("the value '{q}'"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            chars.next();
            tokens.push(if c == '(' { Token::Open } else { Token::Close });
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("a value opened with {c} is never closed")),
                    Some((_, q)) if q == c => {
                        // A doubled quote is the quote itself.
                        if chars.peek().is_some_and(|&(_, n)| n == c) {
                            chars.next();
                            value.push(c);
                        } else {
                            break;
                        }
                    }
                    Some((_, '\0')) => return Err("a value holds a NUL character".into()),
                    Some((_, other)) => value.push(other),
                }
            }
            tokens.push(Token::Quoted(value));
        } else {
            let mut word = String::new();
            while let Some(&(_, w)) = chars.peek() {
                if w.is_whitespace() || w == '(' || w == ')' || w == '\'' || w == '"' {
                    break;
                }
                word.push(w);
                chars.next();
            }
            let token = match word.to_ascii_lowercase().as_str() {
                "-and" => Token::And,
                "-or" => Token::Or,
                "-not" => Token::Not,
                "-eq" => Token::Op(Op::Eq),
                "-ne" => Token::Op(Op::Ne),
                "-like" => Token::Op(Op::Like),
                "-notlike" => Token::Op(Op::NotLike),
                w if w.starts_with('-') => {
                    return Err(format!(
                        "'{word}' is not an operator of scope filters (-eq -ne -like -notlike -and -or -not)"
                    ));
                }
                _ => Token::Word(word),
            };
            tokens.push(token);
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self, depth: usize) -> Result<Filter, String> {
        let mut left = self.and(depth)?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, String> {
        let mut left = self.unary(depth)?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, String> {
        if depth >= MAX_DEPTH {
            return Err(format!("the filter nests deeper than {MAX_DEPTH} levels"));
        }
        match self.next() {
            Some(Token::Not) => Ok(Filter::Not(Box::new(self.unary(depth + 1)?))),
            Some(Token::Open) => {
                let inner = self.or(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    Some(t) => Err(format!("expected ')' but found {}", t.show())),
                    None => Err("a '(' is never closed".into()),
                }
            }
            Some(Token::Word(name)) => self.compare(&name),
            Some(t) => Err(format!("expected a property name but found {}", t.show())),
            None => Err("the filter ends where a comparison was expected".into()),
        }
    }

    fn compare(&mut self, name: &str) -> Result<Filter, String> {
        let property = Property::parse(name).ok_or_else(|| {
            format!(
                "'{name}' is not a property scope filters support (Department, CustomAttribute1-15, RecipientTypeDetails, PrimarySmtpAddress, MemberOfGroup)"
            )
        })?;
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            Some(t) => {
                return Err(format!(
                    "expected an operator after {name} but found {}",
                    t.show()
                ));
            }
            None => return Err(format!("expected an operator after {name}")),
        };
        if property == Property::MemberOfGroup && matches!(op, Op::Like | Op::NotLike) {
            return Err("MemberOfGroup takes -eq or -ne and one group, not a wildcard".into());
        }
        let value = match self.next() {
            Some(Token::Quoted(v)) => v,
            Some(t) => {
                return Err(format!(
                    "expected a quoted value after {name} {} but found {}",
                    op.text(),
                    t.show()
                ));
            }
            None => {
                return Err(format!(
                    "expected a quoted value after {name} {}",
                    op.text()
                ));
            }
        };
        if property == Property::MemberOfGroup && (value.trim().is_empty() || value.contains('*')) {
            return Err("MemberOfGroup names one group by its identity, without wildcards".into());
        }
        Ok(Filter::Compare {
            property,
            op,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Recipient {
        values: HashMap<Property, &'static str>,
        groups: Vec<&'static str>,
    }

    impl Facts for Recipient {
        fn value(&self, property: Property) -> Option<&str> {
            self.values.get(&property).copied()
        }
        fn member_of(&self, group: &str) -> Option<bool> {
            Some(self.groups.iter().any(|g| g.eq_ignore_ascii_case(group)))
        }
    }

    fn sales() -> Recipient {
        Recipient {
            values: HashMap::from([
                (Property::Department, "Sales"),
                (Property::CustomAttribute(1), "vip"),
                (Property::RecipientTypeDetails, "UserMailbox"),
                (Property::PrimarySmtpAddress, "zoe@eu.contoso.com"),
            ]),
            groups: vec!["sales-team@contoso.com"],
        }
    }

    fn check(text: &str) -> bool {
        Filter::parse(text).unwrap().matches(&sales()).unwrap()
    }

    #[test]
    fn evaluates_comparisons_and_logic_ignoring_case() {
        assert!(check("Department -eq 'sales'"));
        assert!(!check("Department -ne 'SALES'"));
        assert!(check("primarysmtpaddress -like '*@EU.contoso.com'"));
        assert!(check("PrimarySmtpAddress -notlike '*@us.contoso.com'"));
        assert!(!check(
            "Department -eq 'Sales' -and -not (CustomAttribute1 -eq 'vip')"
        ));
        assert!(check(
            "Department -eq 'HR' -or MemberOfGroup -eq 'SALES-TEAM@contoso.com'"
        ));
        assert!(check("-not MemberOfGroup -eq 'hr@contoso.com'"));
        assert!(check(
            "(Department -eq 'HR' -or Department -eq 'Sales') -and RecipientTypeDetails -eq \"UserMailbox\""
        ));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // false -and false -or true → true; false -and (false -or true) → false
        assert!(check(
            "Department -eq 'HR' -and Department -eq 'x' -or Department -eq 'Sales'"
        ));
        assert!(!check(
            "Department -eq 'HR' -and (Department -eq 'x' -or Department -eq 'Sales')"
        ));
    }

    #[test]
    fn an_unknown_property_value_is_undecidable_not_false() {
        let f = Filter::parse("Department -ne 'Sales' -or CustomAttribute7 -eq 'x'").unwrap();
        let mut r = sales();
        r.values.remove(&Property::CustomAttribute(7));
        assert_eq!(
            f.matches(&r),
            Err("the tenant did not return CustomAttribute7".into())
        );
    }

    #[test]
    fn refuses_what_it_does_not_support_with_a_reason() {
        let cases = [
            ("", "the filter is empty"),
            (
                "Title -eq 'x'",
                "'Title' is not a property scope filters support",
            ),
            (
                "CustomAttribute16 -eq 'x'",
                "'CustomAttribute16' is not a property",
            ),
            (
                "CustomAttribute01 -eq 'x'",
                "'CustomAttribute01' is not a property",
            ),
            ("Department -gt 'x'", "'-gt' is not an operator"),
            (
                "Department -eq x",
                "expected a quoted value after Department -eq but found 'x'",
            ),
            ("Department -eq 'x", "a value opened with ' is never closed"),
            ("(Department -eq 'x'", "a '(' is never closed"),
            (
                "Department -eq 'x' Department",
                "unexpected 'Department' after a complete filter",
            ),
            (
                "MemberOfGroup -like 'sales*'",
                "MemberOfGroup takes -eq or -ne",
            ),
            ("MemberOfGroup -eq '*'", "MemberOfGroup names one group"),
            (
                "Department -eq 'x' -and",
                "the filter ends where a comparison was expected",
            ),
        ];
        for (text, expected) in cases {
            let error = Filter::parse(text).unwrap_err();
            assert!(error.starts_with(expected), "{text}: {error}");
        }
        let deep = format!("{}Department -eq 'x'{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep).unwrap_err().contains("nests deeper"));
        let long = format!("Department -eq '{}'", "x".repeat(5000));
        assert!(Filter::parse(&long).unwrap_err().contains("longer than"));
    }

    #[test]
    fn prints_as_opath_that_parses_back_to_the_same_filter() {
        let f = Filter::parse("Department -eq 'O''Brien''s' -and -not (MemberOfGroup -eq 'vip@contoso.com' -or CustomAttribute3 -like 'x*')").unwrap();
        let text = f.to_string();
        assert_eq!(
            text,
            "(Department -eq 'O''Brien''s') -and (-not ((MemberOfGroup -eq 'vip@contoso.com') -or (CustomAttribute3 -like 'x*')))"
        );
        assert_eq!(Filter::parse(&text).unwrap(), f);
        assert_eq!(f.groups(), vec!["vip@contoso.com"]);
    }
}
