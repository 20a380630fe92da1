//! A private Postgres cluster: `initdb` + `pg_ctl` in a directory of its own, on a free port.
//!
//! A tool for trying tote and for its tests, in a crate of its own so that the stage Lambdas,
//! which depend on `tote-core` alone, carry none of it.
//!
//! `tote demo` and `tote postgres` run one, and the tests get their databases from one
//! (`tote-testkit`). It listens on 127.0.0.1 only, with a generated password
//! (SCRAM), and keeps its Unix socket inside its own directory.
//!
//! As root, `initdb` refuses to run, so the cluster's directory is handed to the `postgres` user
//! and every server command runs through `runuser -u postgres`. As a normal user, it runs as that
//! user. Server binaries are found in `$TOTE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`,
//! else `pg_config --bindir`.

use std::ffi::CString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::Rng;

use tote_core::{Error, Result};

/// The superuser every private cluster is created with.
pub const SUPERUSER: &str = "tote";

/// A running private Postgres cluster. Dropping a temporary cluster stops it and deletes its
/// files; a persistent one (see [`PrivateCluster::start_persistent`]) is left running.
#[derive(Debug)]
pub struct PrivateCluster {
    root: PathBuf,
    port: u16,
    password: String,
    bin: PathBuf,
    run_as: Option<String>,
    temp: Option<tempfile::TempDir>,
}

impl PrivateCluster {
    /// Starts a throw-away cluster in a new temporary directory. It is stopped and removed when
    /// the value is dropped.
    pub fn start_temporary() -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("tote-pg-")
            .tempdir()
            .map_err(|e| Error::internal(format!("cannot create a temporary directory for Postgres: {e}")))?;
        let mut cluster = Self::init(temp.path())?;
        cluster.temp = Some(temp);
        cluster.start()?;
        Ok(cluster)
    }

    /// Starts (creating it on first use) a cluster whose files live in `dir`, and leaves it
    /// running when the value is dropped, so a person can connect to it afterwards. Calling this
    /// again on a running cluster's directory reuses the running server.
    pub fn start_persistent(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| Error::config(format!("cannot resolve {}: {e}", dir.display())))?;
        let cluster = if dir.join("data").join("PG_VERSION").exists() {
            Self::open(&dir)?
        } else {
            Self::init(&dir)?
        };
        if !cluster.is_running() {
            cluster.start()?;
        }
        Ok(cluster)
    }

    /// Stops the persistent cluster whose files live in `dir`, if it runs.
    pub fn stop_persistent(dir: &Path) -> Result<bool> {
        if !dir.join("data").join("PG_VERSION").exists() {
            return Ok(false);
        }
        let cluster = Self::open(dir)?;
        let was_running = cluster.is_running();
        if was_running {
            cluster.stop();
        }
        Ok(was_running)
    }

    /// A connection URL for database `db` as the superuser. It contains the password: never log it.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// The TCP port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the cluster's data, log, socket and settings.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether a cluster can live in `dir`: always for a normal user; as root, only where the
    /// `postgres` user can reach (a checkout under `/root` cannot host one).
    pub fn can_live_in(dir: &Path) -> bool {
        if !is_root() {
            return true;
        }
        // The directory itself is handed to `postgres`; what matters is that its parents let it in.
        let mut probe = dir.parent().unwrap_or(Path::new("/")).to_path_buf();
        while !probe.exists() {
            match probe.parent() {
                Some(parent) => probe = parent.to_path_buf(),
                None => return false,
            }
        }
        Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-x"])
            .arg(&probe)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn init(root: &Path) -> Result<Self> {
        let bin = find_bin_dir()?;
        let run_as = if is_root() {
            Some("postgres".to_string())
        } else {
            None
        };
        if run_as.is_some() && !Self::can_live_in(root) {
            return Err(Error::config(format!(
                "as root, the private Postgres runs as the `postgres` user, which cannot reach {}; \
                 choose a directory it can reach (e.g. under /var/tmp)",
                root.display()
            )));
        }
        let password: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let port = free_port()?;
        let pwfile = root.join("pwfile");
        write_file(&pwfile, &password)?;
        write_file(&root.join("port"), &port.to_string())?;
        if let Some(user) = &run_as {
            chown_recursive(root, user)?;
        }
        let data = root.join("data");
        run(
            &bin,
            run_as.as_deref(),
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                SUPERUSER,
                "-A",
                "scram-sha-256",
                "--pwfile",
                path_str(&pwfile)?,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let _ = std::fs::remove_file(&pwfile);
        let settings = format!(
            "\n# written by tote\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_buffers = 256MB\nmax_wal_size = 4GB\ntimezone = 'UTC'\n",
            root.display()
        );
        append_file(&data.join("postgresql.conf"), &settings)?;
        write_file(&root.join("password"), &password)?;
        if let Some(user) = &run_as {
            chown_recursive(root, user)?;
        }
        Ok(PrivateCluster {
            root: root.to_path_buf(),
            port,
            password,
            bin,
            run_as,
            temp: None,
        })
    }

    /// Turns TLS on with the given server certificate chain and key (PEM), and reloads the
    /// server. Clients may then connect with `sslmode=require` or `verify-full`.
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str) -> Result<()> {
        let cert = self.root.join("server.crt");
        let key = self.root.join("server.key");
        write_file(&cert, cert_pem)?;
        write_file(&key, key_pem)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::internal(format!("cannot protect {}: {e}", key.display())))?;
        append_file(
            &self.root.join("data").join("postgresql.conf"),
            &format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                cert.display(),
                key.display()
            ),
        )?;
        if let Some(user) = &self.run_as {
            chown_recursive(&self.root, user)?;
        }
        // A restart (not a reload) so that TLS is on when this returns.
        self.pg_ctl_with_log(&["-m", "fast", "restart"])
    }

    fn open(root: &Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read_to_string(root.join(name))
                .map(|s| s.trim().to_string())
                .map_err(|e| {
                    Error::config(format!(
                        "{} is not a tote Postgres directory ({name}: {e})",
                        root.display()
                    ))
                })
        };
        let password = read("password")?;
        let port = read("port")?
            .parse()
            .map_err(|_| Error::config(format!("{}/port does not hold a port number", root.display())))?;
        let run_as = if is_root() {
            Some("postgres".to_string())
        } else {
            None
        };
        Ok(PrivateCluster {
            root: root.to_path_buf(),
            port,
            password,
            bin: find_bin_dir()?,
            run_as,
            temp: None,
        })
    }

    fn is_running(&self) -> bool {
        let data = self.root.join("data");
        let Some(data) = data.to_str() else {
            return false;
        };
        run(
            &self.bin,
            self.run_as.as_deref(),
            "pg_ctl",
            &["-D", data, "status"],
        )
        .is_ok()
    }

    fn start(&self) -> Result<()> {
        self.pg_ctl_with_log(&["-t", "120", "start"])
    }

    /// Runs `pg_ctl -D <data> -l <log> -w <args>`; on failure the error carries the log's tail.
    fn pg_ctl_with_log(&self, args: &[&str]) -> Result<()> {
        let data = self.root.join("data");
        let log = self.root.join("postgres.log");
        let mut all = vec!["-D", path_str(&data)?, "-l", path_str(&log)?, "-w"];
        all.extend_from_slice(args);
        run(&self.bin, self.run_as.as_deref(), "pg_ctl", &all).map_err(|e| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n");
            Error::internal(format!("{e}\nlast lines of {}:\n{tail}", log.display()))
        })
    }

    fn stop(&self) {
        let data = self.root.join("data");
        if let Some(data) = data.to_str() {
            let _ = run(
                &self.bin,
                self.run_as.as_deref(),
                "pg_ctl",
                &["-D", data, "-m", "immediate", "-w", "stop"],
            );
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if self.temp.is_some() {
            self.stop();
        }
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        Error::config(format!(
            "{} is not valid UTF-8; choose another directory",
            path.display()
        ))
    })
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| Error::internal(format!("cannot write {}: {e}", path.display())))
}

fn append_file(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(|e| Error::internal(format!("cannot append to {}: {e}", path.display())))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Hands `root` and everything below it to `user` (the cluster runs as `postgres` under root).
fn chown_recursive(root: &Path, user: &str) -> Result<()> {
    let name = CString::new(user).expect("user name has no NUL");
    // SAFETY: getpwnam gets a valid C string; the returned record is read before any other call.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err(Error::config(format!(
                "running as root, the private Postgres must run as the `{user}` user, which does not exist: \
                 install the postgresql package (it creates the user) or run as a normal user"
            )));
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    fn walk(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                walk(&entry?.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    walk(root, uid, gid)
        .map_err(|e| Error::internal(format!("cannot hand {} to {user}: {e}", root.display())))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::internal(format!("cannot find a free TCP port on 127.0.0.1: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::internal(format!("cannot find a free TCP port: {e}")))
}

/// Finds the directory holding `initdb`, `pg_ctl` and `postgres`.
fn find_bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("TOTE_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
        return Err(Error::config(format!(
            "TOTE_PG_BIN={} has no initdb in it",
            dir.display()
        )));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    Err(Error::config(
        "Postgres server binaries (initdb, pg_ctl) not found: install the postgresql package \
         (scripts/demo and scripts/test do) or set TOTE_PG_BIN to the directory holding them",
    ))
}

/// Runs a server binary, as `run_as` when given, and returns an error with its output on failure.
fn run(bin: &Path, run_as: Option<&str>, program: &str, args: &[&str]) -> Result<()> {
    let program_path = bin.join(program);
    let mut command = match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(&program_path);
            c
        }
        None => Command::new(&program_path),
    };
    // The server must not inherit a working directory the postgres user cannot enter.
    command.args(args).current_dir("/");
    let output = command
        .output()
        .map_err(|e| Error::internal(format!("cannot run {}: {e}", program_path.display())))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "{program} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}
