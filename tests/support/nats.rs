//! A real NATS server with JetStream for the tests: Debian's `nats-server`
//! on 127.0.0.1, its store in a temporary folder. It can be stopped and
//! started again on the same port, as an outage; it is stopped when
//! dropped.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::which;

pub struct Nats {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
}

impl Nats {
    pub fn start() -> Nats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut nats = Nats {
            child: None,
            dir: tempfile::tempdir().expect("NATS folder"),
            port,
            url: format!("nats://127.0.0.1:{port}"),
        };
        nats.resume();
        nats
    }

    fn binary() -> PathBuf {
        which("nats-server")
            .or_else(|| {
                let sbin = PathBuf::from("/usr/sbin/nats-server");
                sbin.is_file().then_some(sbin)
            })
            .unwrap_or_else(|| {
                panic!("nats-server is not installed: `make test` installs it (apt-get install nats-server)")
            })
    }

    /// Starts the server (again), on the same port with the same store.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "NATS is running already");
        let log = std::fs::File::create(self.dir.path().join("nats.log")).expect("log");
        let child = Command::new(Self::binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path().join("jetstream"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {} within 20 s: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server, as an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}
