//! Detached processes, pid files and signals, using only std and the `kill` command.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Size above which a log is rotated when its process is started again.
const MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;

/// Spawns `cmd` so that it outlives this process, with stdout and stderr appended to `log`.
/// Returns its pid and the offset in `log` where its output begins (0 after a rotation).
pub(super) fn spawn_detached(cmd: &mut Command, log: &Path) -> Result<(u32, u64)> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Logs are appended across runs (the last one stays readable after a crash); keep one
    // older generation once they get big.
    if std::fs::metadata(log).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let mut old = log.as_os_str().to_owned();
        old.push(".1");
        std::fs::rename(log, &old).with_context(|| format!("rotating {}", log.display()))?;
    }
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let offset = out.metadata().map_or(0, |m| m.len());
    let err = out.try_clone()?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Own process group: a Ctrl-C in the terminal that ran `cargo xtask` must not reach it.
        .process_group(0)
        .spawn()
        .with_context(|| {
            format!(
                "running {:?} (is Java 17+ installed, or JAVA_HOME set?)",
                cmd.get_program()
            )
        })?;
    let pid = child.id();
    // Reap it if it exits while we still run (e.g. `cargo xtask test` stopping what it
    // started), so it does not linger as a zombie that still looks alive. When we exit first,
    // the thread just vanishes and the process is re-parented.
    std::thread::spawn(move || child.wait());
    Ok((pid, offset))
}

/// Reads a pid file; `None` if missing or garbled.
pub(super) fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Writes a pid file.
pub(super) fn write_pid(path: &Path, pid: u32) -> Result<()> {
    std::fs::write(path, format!("{pid}\n")).with_context(|| format!("writing {}", path.display()))
}

/// Whether `pid` is a live process whose command line contains `marker`.
///
/// The marker check keeps a recycled pid from passing for ours. On Linux this reads `/proc`
/// (and treats zombies as dead); elsewhere it falls back to `kill -0` without the check.
pub(super) fn is_alive(pid: u32, marker: &str) -> bool {
    let proc_dir = Path::new("/proc").join(pid.to_string());
    if Path::new("/proc/self").exists() {
        let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
            return false;
        };
        // The state letter follows the parenthesised command name, which may contain spaces.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if matches!(state, Some("Z" | "X") | None) {
            return false;
        }
        let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
            return false;
        };
        return String::from_utf8_lossy(&cmdline).contains(marker);
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `pid` is gone for good: not alive at three looks 100 ms apart. One look can be
/// wrong while a starting JVM's launcher re-executes itself (its `/proc` entry then reads
/// empty for a moment), and a live process taken for dead would be left running unowned.
pub(super) fn has_exited(pid: u32, marker: &str) -> bool {
    for look in 0..3 {
        if is_alive(pid, marker) {
            return false;
        }
        if look < 2 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    true
}

/// Sends `SIG<name>` (e.g. `TERM`, `KILL`) to `pid` with the `kill` command.
pub(super) fn signal(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{name} {pid} failed ({status})");
    }
    Ok(())
}

/// The last `lines` lines of a log file (reads at most its last 64 KiB).
pub(super) fn log_tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}
