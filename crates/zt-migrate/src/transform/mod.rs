//! V1's rules as pure functions: one module per rule, each unit-tested.

pub mod deadline;
pub mod fee;
pub mod form;
pub mod identity;
pub mod materials_config;
pub mod mobile;
pub mod paths;
pub mod text_gbk;
pub mod time;
