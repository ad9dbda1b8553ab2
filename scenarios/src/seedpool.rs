//! The process pool behind `eddy fuzz`, `eddy plant-report` and `eddy whatif`: run one
//! child `eddy` process per task (a seed, a planted bug's seed, a what-if combination),
//! `jobs` at a time, and hand each exit status back as the child ends. A process per run
//! keeps runs independent: nothing of one simulation can leak into the next.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;

/// How often finished children are looked for.
const POLL: Duration = Duration::from_millis(20);

/// One child run: `eddy <args…>`.
#[derive(Debug, Clone, Default)]
pub struct Task {
    pub args: Vec<OsString>,
    /// File the child's stdout goes to; discarded when `None`. Never a pipe: a child with a
    /// large report would block on a full pipe that nobody drains until it exits.
    pub stdout: Option<PathBuf>,
}

impl Task {
    /// `eddy run <args…>` with stdout discarded.
    pub fn run<I, S>(args: I) -> Task
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Task {
            args: std::iter::once(OsString::from("run"))
                .chain(args.into_iter().map(Into::into))
                .collect(),
            stdout: None,
        }
    }
}

/// Run `tasks` with at most `jobs` children at once (at least one), in order of index.
/// `started(i)` is called as task `i` starts; `finished(i, status)` as it ends (tasks ending
/// in the same poll are reported in index order). Stops at the first error of either.
pub fn run_all(
    jobs: usize,
    tasks: &[Task],
    mut started: impl FnMut(usize),
    mut finished: impl FnMut(usize, ExitStatus) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the eddy binary")?;
    let mut pending = tasks.iter().enumerate();
    let mut running: BTreeMap<usize, Child> = BTreeMap::new();
    loop {
        while running.len() < jobs.max(1) {
            let Some((i, task)) = pending.next() else {
                break;
            };
            let stdout = match &task.stdout {
                Some(path) => Stdio::from(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                ),
                None => Stdio::null(),
            };
            let child = Command::new(&exe)
                .args(&task.args)
                .stdout(stdout)
                .stderr(Stdio::null())
                .spawn()
                .context("starting eddy run")?;
            started(i);
            running.insert(i, child);
        }
        if running.is_empty() {
            return Ok(());
        }
        let mut done = Vec::new();
        for (i, child) in running.iter_mut() {
            if let Some(status) = child.try_wait().context("waiting for a run")? {
                done.push((*i, status));
            }
        }
        if done.is_empty() {
            std::thread::sleep(POLL);
            continue;
        }
        for (i, status) in done {
            running.remove(&i);
            finished(i, status)?;
        }
    }
}

/// `[#####...............]`: `done` of `total`, 20 characters wide.
pub fn progress_bar(done: usize, total: usize) -> String {
    let width = 20;
    let filled = ((done * width) / total.max(1)).min(width);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bars_fill_with_the_runs_done() {
        assert_eq!(progress_bar(0, 4), "[....................]");
        assert_eq!(progress_bar(1, 4), "[#####...............]");
        assert_eq!(progress_bar(4, 4), "[####################]");
    }

    #[test]
    fn a_run_task_starts_with_the_run_subcommand() {
        let t = Task::run(["s.json", "--seed", "3"]);
        assert_eq!(t.args, ["run", "s.json", "--seed", "3"]);
        assert!(t.stdout.is_none());
    }
}
