//! Running a command on this machine (a group's `local` snapshot hook): with a timeout, bounded
//! output and nothing left behind. Owns process handling only; auditing is the caller's.
//!
//! The command runs as `sh -c COMMAND` in its own process group, so a timeout kills everything it
//! started (`sh -c 'lvcreate …; sleep 1000'` included), not only the shell. Its output is read as
//! it comes: all of it goes into the SHA-256 digest the audit log keeps, but at most
//! [`KEEP_BYTES`] of each stream (the end) stays in memory.

use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The end of each stream kept in memory (for the error message); the rest is only digested.
pub const KEEP_BYTES: usize = 64 * 1024;

/// How a local command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOutput {
    /// Exit status; `None` when a signal ended it.
    pub status: Option<i32>,
    /// SHA-256 over the SHA-256 of its stdout and of its stderr (streamed: neither is kept),
    /// hex, first 24 characters (the audit log's digest length).
    pub digest: String,
    /// The last [`KEEP_BYTES`] of stderr.
    pub stderr_tail: Vec<u8>,
    /// Bytes written in all.
    pub bytes: u64,
}

/// Why a local command gave no [`LocalOutput`].
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("it could not start ({0})")]
    Start(std::io::Error),
    #[error("it was still running after {0} s and was stopped (with everything it started)")]
    Timeout(u64),
    #[error("reading its output failed ({0})")]
    Read(std::io::Error),
}

/// Read a stream to its end: its SHA-256, its length, and its last [`KEEP_BYTES`].
async fn drain(mut r: impl AsyncRead + Unpin) -> std::io::Result<(Vec<u8>, u64, Vec<u8>)> {
    let mut tail = Vec::new();
    let mut total = 0u64;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        total += n as u64;
        hash.update(chunk);
        tail.extend_from_slice(chunk);
        if tail.len() > 2 * KEEP_BYTES {
            tail.drain(..tail.len() - KEEP_BYTES);
        }
    }
    if tail.len() > KEEP_BYTES {
        tail.drain(..tail.len() - KEEP_BYTES);
    }
    Ok((tail, total, hash.finalize().to_vec()))
}

/// Run `sh -c command` with `env`, for at most `timeout`.
pub async fn run(
    command: &str,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<LocalOutput, LocalError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(LocalError::Start)?;
    let pgid = child.id();
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(LocalError::Start(std::io::Error::other("no pipes")));
    };
    // Both streams are read at once (neither may fill its pipe and stall the command).
    let work = async {
        let (o, e) = tokio::join!(drain(out), drain(err));
        (o, e, child.wait().await)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((o, e, status)) => {
            let (_, out_bytes, out_hash) = o.map_err(LocalError::Read)?;
            let (err_tail, err_bytes, err_hash) = e.map_err(LocalError::Read)?;
            let status = status.map_err(LocalError::Read)?;
            let mut h = Sha256::new();
            h.update(&out_hash);
            h.update(&err_hash);
            Ok(LocalOutput {
                status: status.code(),
                digest: hex::encode(&h.finalize()[..12]),
                stderr_tail: err_tail,
                bytes: out_bytes + err_bytes,
            })
        }
        Err(_) => {
            if let Some(pid) = pgid.and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: kill(2) with a negative pid signals the process group we created
                // (`process_group(0)` made the child its leader); no memory is involved.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            Err(LocalError::Timeout(timeout.as_secs()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_runs_with_its_env_and_its_output_digested() {
        let o = run(
            "echo out; echo \"err $X\" >&2; exit 3",
            &[("X", "y")],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(o.status, Some(3));
        assert_eq!(o.stderr_tail, b"err y\n");
        assert_eq!(o.bytes, 10);
        assert_eq!(o.digest.len(), 24);
    }

    #[tokio::test]
    async fn a_hung_command_is_stopped_with_everything_it_started() {
        let marker = std::env::temp_dir().join(format!("pd-local-{}", std::process::id()));
        let t = std::time::Instant::now();
        let e = run(
            &format!(
                "sleep 29.123 & echo started; wait; touch {}",
                marker.display()
            ),
            &[],
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, LocalError::Timeout(_)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!marker.exists(), "the shell was killed before it went on");
        // The background sleep is gone too: no process of that group is left.
        let left = std::process::Command::new("sh")
            .args(["-c", "pgrep -f '^sleep 29.123$' | wc -l"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "0");
    }

    #[tokio::test]
    async fn endless_output_is_digested_not_kept() {
        // 200 MB through the pipes: memory stays at the kept tail.
        let o = run(
            "head -c 200000000 /dev/zero; head -c 100000 /dev/zero >&2",
            &[],
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(o.bytes, 200_100_000);
        assert_eq!(o.stderr_tail.len(), KEEP_BYTES);
    }
}
