//! End-to-end tests of survey-alerts: the services run in-process against the
//! real broker and registry. The tests live in `end_to_end/`; run them with
//! the README's test command.
