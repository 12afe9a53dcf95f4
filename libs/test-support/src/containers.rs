//! Where a Docker engine exists, testcontainers starts Kafka and Apicurio for
//! the tests. CI here has no engine; `cargo xtask test` is the route there.

use std::path::Path;
use std::sync::OnceLock;

use testcontainers_modules::kafka::apache::Kafka;
use testcontainers_modules::testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers_modules::testcontainers::runners::SyncRunner;
use testcontainers_modules::testcontainers::{Container, GenericImage};

use crate::StackAddress;

struct Running {
    _kafka: Container<Kafka>,
    _registry: Container<GenericImage>,
}

// Containers live as long as the test binary.
static RUNNING: OnceLock<Running> = OnceLock::new();

/// Only a socket that accepts a connection means an engine; the docker CLI
/// alone (as on CI here) does not.
fn docker_answers() -> bool {
    std::env::var("DOCKER_HOST").is_ok()
        || std::os::unix::net::UnixStream::connect(Path::new("/var/run/docker.sock")).is_ok()
}

pub(crate) fn start_if_docker_answers() -> Option<StackAddress> {
    if !docker_answers() {
        return None;
    }
    let kafka = Kafka::default().start().ok()?;
    let kafka_port = kafka
        .get_host_port_ipv4(testcontainers_modules::kafka::apache::KAFKA_PORT)
        .ok()?;
    let registry = GenericImage::new("apicurio/apicurio-registry", "3.0.9")
        .with_exposed_port(8080.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Installed features"))
        .start()
        .ok()?;
    let registry_port = registry.get_host_port_ipv4(8080).ok()?;
    let address = StackAddress {
        bootstrap_servers: format!("127.0.0.1:{kafka_port}"),
        schema_registry_url: format!("http://127.0.0.1:{registry_port}/apis/ccompat/v7"),
    };
    let _ = RUNNING.set(Running {
        _kafka: kafka,
        _registry: registry,
    });
    Some(address)
}
