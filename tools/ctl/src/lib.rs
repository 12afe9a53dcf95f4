//! survey-ctl: the operator's tools for the pipeline's topics, schemas,
//! consumer groups and dead-letter queues.
//!
//! Every subcommand is a function of [`commands`] that returns a report (a
//! value with a `Display` table), so the integration tests call the same code
//! the binary runs; [`cli`] only parses arguments and prints.
//!
//! - [`commands::topics`]: the topic registry as a table; create or update
//!   every topic;
//! - [`commands::schemas`]: register the embedded schemas; ask the registry
//!   whether they are compatible with what is registered;
//! - [`commands::replay`]: move a stopped stage's consumer group back to a
//!   point in time;
//! - [`commands::dlq`]: inspect a stage's dead-letter queue; redrive it to the
//!   stage's input, once;
//! - [`commands::backtest`]: what a set of filter rules would have alerted on
//!   (read-only);
//! - [`commands::directory`]: write the routing file's queues to the
//!   directory topic;
//! - [`commands::tail`]: print a topic's records, decoded through the registry.

pub mod cli;
pub mod commands;
pub mod kafka;
pub mod stage;
pub mod table;

pub use stage::Stage;
