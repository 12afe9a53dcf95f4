//! Apicurio Registry 3 (a Quarkus application) with its default in-memory storage. The
//! services talk to its Confluent-compatible API (`ccompat`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::{Stack, net};

/// Found in the registry's command line (the launcher jar's absolute path lies in the cache's
/// `apicurio-<version>` directory); identifies its process.
pub(super) const CMDLINE_MARKER: &str = "apicurio";
/// Base path of the Confluent Schema Registry compatible API (v7).
pub(super) const CCOMPAT_PATH: &str = "/apis/ccompat/v7";

/// The jar to run in an unpacked distribution: `quarkus-run.jar` (fast-jar layout, e.g. 3.3.x) or
/// `*-runner.jar` (legacy-jar layout, 3.0.x).
pub(super) fn launcher(home: &Path) -> Result<PathBuf> {
    let fast_jar = home.join("quarkus-run.jar");
    if fast_jar.is_file() {
        return Ok(fast_jar);
    }
    let entries = std::fs::read_dir(home).with_context(|| format!("listing {}", home.display()))?;
    entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-runner.jar"))
        })
        .with_context(|| {
            format!(
                "{} has neither quarkus-run.jar nor *-runner.jar: unexpected layout",
                home.display()
            )
        })
}

/// The command that runs the registry from its unpacked distribution `home`.
pub(super) fn command(stack: &Stack, home: &Path) -> Result<Command> {
    let jar = launcher(home)?;
    let p = &stack.ports;
    let mut cmd = super::java();
    cmd.current_dir(home)
        .arg("-Xmx512m")
        // C1 only: starts ~30% faster; peak throughput does not matter for local tests.
        .arg("-XX:TieredStopAtLevel=1")
        .arg("-Dquarkus.http.host=127.0.0.1")
        .arg(format!("-Dquarkus.http.port={}", p.registry))
        // Health and metrics live on a separate management interface (default port 9000).
        .arg("-Dquarkus.management.host=127.0.0.1")
        .arg(format!("-Dquarkus.management.port={}", p.registry_mgmt));
    if stack.registry_persist {
        // H2 on disk instead of the default in-memory database: schemas and their ids
        // survive a restart, as they would with a real registry's storage.
        let data = stack.registry_data_dir();
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        cmd.arg(format!(
            "-Dapicurio.datasource.url=jdbc:h2:file:{}",
            data.join("registry").display()
        ));
    }
    cmd.arg("-jar").arg(jar);
    Ok(cmd)
}

/// Whether the registry serves its ccompat API (`GET /subjects` answers 200).
pub(super) fn answers(port: u16) -> bool {
    net::http_get_status(port, &format!("{CCOMPAT_PATH}/subjects")).is_ok_and(|s| s == 200)
}
