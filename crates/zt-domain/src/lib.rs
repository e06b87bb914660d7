//! Domain logic of Zhengtong. Everything here is pure: no I/O, no async and no
//! reading of the system clock — "now" and "today" are always parameters, so
//! that deadlines, warnings and sessions can be tested on any date.

pub mod breaker;
pub mod calendar;
pub mod case;
pub mod case_no;
pub mod error;
pub mod ids;
pub mod item;
pub mod licence;
pub mod mask;
pub mod rating;
pub mod role;
pub mod time;

pub use error::{DomainError, FieldError};
