//! survey-ctl's commands against the real broker and registry; each test has
//! its own topic prefix, and so its own topics, subjects and groups.

mod backtest;
mod directory;
mod dlq;
mod helpers;
mod replay;
mod schemas;
mod tail;
mod topics;
