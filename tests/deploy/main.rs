//! Deployment files checked against the code. Topic names, consumer groups,
//! partitions, topic configs, environment variables, ports, binaries and
//! metric names are declared once in the crates; `docker-compose.yml`,
//! `Dockerfile`, `deploy/kubernetes/**` (rendered by `kubectl kustomize`),
//! `deploy/prometheus/` and the Grafana dashboard must agree with them.
//!
//! Nothing here needs Kafka. The Kubernetes tests need `kubectl` (or
//! `kustomize`) on the PATH; `KUBECTL` names another binary.

mod asyncapi;
mod compose;
mod env;
mod image;
mod kubernetes;
mod metrics;
mod routing;
mod services;
mod strimzi;
mod support;
