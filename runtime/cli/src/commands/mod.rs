pub mod build;
pub mod inspect;
pub mod run;
pub mod sim;
