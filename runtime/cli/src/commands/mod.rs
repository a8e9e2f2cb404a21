pub mod build;
pub mod cache;
pub mod cert;
pub mod connect;
pub mod inspect;
pub mod new;
pub mod run;
pub mod sim;
