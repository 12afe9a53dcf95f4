//! The pipeline from the webhook to the last stage that exists, with every
//! service in-process, against the real broker and registry.

mod pipeline;
