//! One module per subcommand. Each returns a report whose `Display` is what
//! the binary prints.

pub mod backtest;
pub mod directory;
pub mod dlq;
pub mod replay;
pub mod schemas;
pub mod tail;
pub mod topics;
