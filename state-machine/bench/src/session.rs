//! The private Postgres, the stores and the commands every measurement runs.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use tote_private_pg::PrivateCluster;

use crate::measure::{measure, Cost};
use crate::END;

/// A private Postgres with the source (`totesys`) and a warehouse, and a work directory.
pub(crate) struct Session {
    pub(crate) tote: PathBuf,
    pub(crate) source: String,
    pub(crate) admin: String,
    pub(crate) warehouse: String,
    work: tempfile::TempDir,
    pub(crate) cluster: PrivateCluster,
}

impl Session {
    pub(crate) fn start(tote: Option<PathBuf>) -> anyhow::Result<Session> {
        if Command::new("psql").arg("--version").output().is_err() {
            bail!("tote bench measures the COPY ceilings with psql, which is not installed: install postgresql-client");
        }
        let cluster = PrivateCluster::start_temporary()?;
        measure(
            &mut Self::psql(&cluster.url("postgres"), &["CREATE DATABASE totesys"]),
            Stdio::null(),
        )?;
        Ok(Session {
            tote: match tote {
                Some(path) => path,
                None => std::env::current_exe().context("cannot find the tote binary")?,
            },
            source: cluster.url("totesys"),
            admin: cluster.url("postgres"),
            warehouse: cluster.url("warehouse"),
            work: tempfile::Builder::new().prefix("tote-bench-").tempdir()?,
            cluster,
        })
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// `tote` with the session's stores and databases.
    pub(crate) fn tote(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.tote);
        command
            .args(args)
            .env("TOTE_SOURCE_URL", &self.source)
            .env("TOTE_WAREHOUSE_URL", &self.warehouse)
            .env("TOTE_LANDING", self.path("landing"))
            .env("TOTE_PROCESSED", self.path("processed"))
            .env("TOTE_HOME", self.path("home"))
            .env_remove("TOTE_MODELS");
        command
    }

    /// `psql` on `url` running `sql` (each a separate `-c`), quietly.
    pub(crate) fn psql(url: &str, sql: &[&str]) -> Command {
        let mut command = Command::new("psql");
        command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url]);
        for statement in sql {
            command.args(["-c", statement]);
        }
        command
    }

    /// The single value `sql` returns.
    pub(crate) fn scalar(&self, url: &str, sql: &str) -> anyhow::Result<u64> {
        let out = Self::psql(url, &[sql]).output()?;
        if !out.status.success() {
            bail!("psql: {sql}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    }

    pub(crate) fn run(&self, command: &mut Command) -> anyhow::Result<Cost> {
        measure(command, Stdio::null())
    }

    /// Runs `tote <args>` (a command that prints its report as JSON), measured; its report.
    pub(crate) fn measure_json(&self, args: &[&str]) -> anyhow::Result<(Cost, serde_json::Value)> {
        self.measure_json_with(args, &[])
    }

    /// [`Session::measure_json`] with these environment variables set for the command.
    pub(crate) fn measure_json_with(
        &self,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<(Cost, serde_json::Value)> {
        let out = self.path("report.json");
        let mut command = self.tote(args);
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let cost = measure(&mut command, Stdio::from(std::fs::File::create(&out)?))?;
        let report = serde_json::from_slice(&std::fs::read(&out)?)
            .with_context(|| format!("tote {} printed no JSON report", args.join(" ")))?;
        Ok((cost, report))
    }

    pub(crate) fn remove(&self, name: &str) -> anyhow::Result<()> {
        match std::fs::remove_dir_all(self.path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// ToteSys seeded afresh at `scale` into the source, its history ending at [`END`].
    pub(crate) fn seed(&self, scale: f64) -> anyhow::Result<()> {
        self.run(Command::new(&self.tote).args([
            "sim",
            "seed",
            "--url",
            &self.source,
            "--scale",
            &scale.to_string(),
            "--end",
            END,
            "--replace",
        ]))?;
        Ok(())
    }

    /// Databases `names` dropped where they exist and created empty, in one `psql`.
    pub(crate) fn recreate_databases(&self, names: &[&str]) -> anyhow::Result<()> {
        let statements: Vec<String> = names
            .iter()
            .flat_map(|name| {
                [
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    format!("CREATE DATABASE {name}"),
                ]
            })
            .collect();
        let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
        self.run(&mut Self::psql(&self.admin, &statements))?;
        Ok(())
    }

    /// `tote run --name <name>` into `warehouse`, with fresh stores and home under `<name>-…`.
    pub(crate) fn first_run(&self, name: &str, warehouse: &str) -> Command {
        let mut command = self.tote(&["run", "--name", name]);
        command
            .env("TOTE_WAREHOUSE_URL", warehouse)
            .env("TOTE_LANDING", self.path(&format!("{name}-landing")))
            .env("TOTE_PROCESSED", self.path(&format!("{name}-processed")))
            .env("TOTE_HOME", self.path(&format!("{name}-home")));
        command
    }

    /// Execution `name` as recorded under the home of [`Session::first_run`]`(run, …)`.
    pub(crate) fn execution(&self, run: &str, name: &str) -> anyhow::Result<tote_asl::ExecutionRecord> {
        let executions = self.path(&format!("{run}-home")).join("executions");
        Ok(tote_asl::ExecutionStore::new(executions).load(name)?)
    }

    /// Removes the stores and home of [`Session::first_run`]`(name, …)`.
    pub(crate) fn remove_run(&self, name: &str) -> anyhow::Result<()> {
        for part in ["landing", "processed", "home"] {
            self.remove(&format!("{name}-{part}"))?;
        }
        Ok(())
    }
}
