//! Cancelling a running job by its id (issue #11): the Activity view's Cancel and `patchdesk jobs
//! cancel ID`. The job is a scan of a hung host (a real TCP listener that accepts and says
//! nothing, as a wedged sshd does) with a 60 s connect timeout; cancelled in this process through
//! the runner's `Canceller`, and from "another process" through the database flag.

use patchdesk_engine::clock::SystemClock;
use patchdesk_engine::host::HostSpec;
use patchdesk_engine::inventory::Inventory;
use patchdesk_engine::jobs::{self, JobKind, JobScope, JobState, Runner, RunnerHooks};
use patchdesk_engine::settings::Settings;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn silent_listener() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    port
}

fn hung_inventory(path: &std::path::Path, port: u16) -> Inventory {
    let mut inv = Inventory::open(path, Arc::new(SystemClock)).unwrap();
    let mut s = HostSpec::new("hung", "127.0.0.1");
    s.port = port;
    inv.add_host(&s).unwrap();
    let settings = Settings {
        connect_timeout_secs: 60,
        ..Settings::default()
    };
    settings.save(&inv).unwrap();
    inv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_cancelled_by_its_id_here_or_from_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.db");
    let port = silent_listener().await;
    let mut inv = hung_inventory(&db, port);
    for from_db in [false, true] {
        let id = jobs::enqueue(&inv, JobKind::Scan, JobScope::All).unwrap();
        let mut runner = Runner::new("test", RunnerHooks::silent());
        let canceller = runner.canceller();
        let t = Instant::now();
        let task = tokio::spawn(async move {
            let ran = runner.tick(&mut inv).await.unwrap();
            (ran, inv)
        });
        // Wait until it runs, then cancel it.
        let other = Inventory::open(&db, Arc::new(SystemClock)).unwrap();
        loop {
            if jobs::job(&other, id).unwrap().state == JobState::Running {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the job never started"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if from_db {
            // `patchdesk jobs cancel ID` in another process: the flag in the database.
            jobs::request_cancel(&other, id).unwrap();
        } else {
            assert!(canceller.cancel(id), "running in this process");
        }
        let (ran, back) = task.await.unwrap();
        inv = back;
        let r = ran.iter().find(|r| r.id == id).unwrap();
        assert_eq!(r.state, JobState::Cancelled, "{r:?}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "cancelled promptly, not after the 60 s timeout: {:?}",
            t.elapsed()
        );
        assert!(!canceller.cancel(id), "no longer running");
    }
}
