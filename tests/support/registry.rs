//! A real OCI registry for the tests: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1, with its storage in a temporary
//! folder, optionally over TLS with a private CA and with basic
//! authentication. Stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the registry is reached.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegistrySetup {
    pub tls: bool,
    pub basic_auth: bool,
}

pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub address: String,
    /// The CA that signed the server certificate, when serving TLS.
    pub ca: Option<PathBuf>,
    /// User name and password file, when basic authentication is on.
    pub login: Option<(String, PathBuf)>,
}

pub const USER: &str = "publisher";
const PASSWORD: &str = "s3cret-registry-password";

impl Registry {
    pub fn start(setup: RegistrySetup) -> Registry {
        let binary = which("docker-registry").unwrap_or_else(|| {
            panic!("docker-registry is not installed: `make test` installs it (apt-get install docker-registry)")
        });
        let dir = tempfile::tempdir().expect("registry folder");
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
            dir.path().join("storage").display()
        );
        let mut ca = None;
        if setup.tls {
            let tls = exorun_sim::write_loopback_tls(dir.path()).expect("test CA");
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.server_chain_pem.display(),
                tls.server_key_pem.display()
            ));
            ca = Some(tls.ca_pem);
        }
        let mut login = None;
        if setup.basic_auth {
            let hash = bcrypt::hash(PASSWORD, 5).expect("bcrypt");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{USER}:{hash}\n")).expect("htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: exorun-tests\n    path: {}\n",
                htpasswd.display()
            ));
            let password = dir.path().join("registry.password");
            std::fs::write(&password, format!("{PASSWORD}\n")).expect("password file");
            login = Some((USER.to_owned(), password));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("registry config");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log"))
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            child,
            dir,
            address,
            ca,
            login,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.address).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not listen on {} within 20 s: {}",
            self.address,
            std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    /// The registry flags of the exorun commands that reach it.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        match &self.ca {
            Some(ca) => args.extend(["--registry-ca".to_owned(), ca.display().to_string()]),
            None => args.push("--plain-http".to_owned()),
        }
        if let Some((user, password)) = &self.login {
            args.extend([
                "--registry-user".to_owned(),
                user.clone(),
                "--registry-password-file".to_owned(),
                password.display().to_string(),
            ]);
        }
        args
    }

    /// The same settings for the library.
    pub fn options(&self) -> exorun_package::remote::RegistryOptions {
        exorun_package::remote::RegistryOptions {
            plain_http: self.ca.is_none(),
            ca_file: self.ca.clone(),
            username: self.login.as_ref().map(|(user, _)| user.clone()),
            password: self
                .login
                .as_ref()
                .map(|_| secrecy::SecretString::from(PASSWORD)),
        }
    }

    /// `<address>/<path>`.
    pub fn reference(&self, path: &str) -> String {
        format!("{}/{path}", self.address)
    }

    /// Where the registry keeps a blob's bytes (distribution's filesystem
    /// layout), to play a registry that serves other bytes than it claims.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn folder(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The path of a command on PATH.
pub fn which(command: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(command))
            .find(|path| path.is_file())
    })
}
