//! Integration tests: each test starts its own sandbox on 127.0.0.1:0 and
//! talks to it with reqwest or a raw SMTP exchange.

mod control;
mod genesys;
mod helpers;
mod slack;
mod slack_history;
mod smtp;
mod teams;
