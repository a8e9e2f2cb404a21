//! The automation's logic, free of host calls so it can be unit-tested.

/// The output of a run.
pub fn greeting(name: &str) -> String {
    format!("Hello, {name}, from {{name}}.\n")
}

#[cfg(test)]
mod tests {
    use super::greeting;

    #[test]
    fn greets_by_name() {
        assert_eq!(greeting("Ann"), "Hello, Ann, from {{name}}.\n");
    }
}
