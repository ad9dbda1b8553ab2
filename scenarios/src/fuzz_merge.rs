//! `eddy fuzz merge DIR…`: the output folders of a campaign's shards (each with the
//! `fuzz.json` that `eddy fuzz --shard i/n` wrote) back into one campaign. It refuses shards
//! that do not belong together — another eddy build, another scenario file or plant list,
//! another seed range, a seed judged twice — and a campaign with seeds missing (unless
//! asked to merge a partial one), then prints exactly what one unsharded `eddy fuzz` would
//! print after its progress lines, writes its JUnit file and, with `--out`, its `fuzz.json`
//! and the folders of the failing seeds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::fuzz::{
    finish, parse_seeds, summary, write_campaign, Campaign, Outcome, CAMPAIGN_FILE, CAMPAIGN_FORMAT,
};

pub struct MergeArgs {
    /// The shards' output folders.
    pub dirs: Vec<PathBuf>,
    /// Folder for the merged `fuzz.json` and the failing seeds' folders.
    pub out: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// Merge even when some of the campaign's seeds are in no shard.
    pub allow_missing: bool,
}

/// Reads `dir/fuzz.json`.
pub fn read_campaign(dir: &Path) -> anyhow::Result<Campaign> {
    let path = dir.join(CAMPAIGN_FILE);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "reading {}: not the output folder of an `eddy fuzz` run, or the run did not finish",
            path.display()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let format = value["format"].as_str().unwrap_or("(none)");
    if format != CAMPAIGN_FORMAT {
        bail!(
            "{} has format {format:?}; this eddy reads {CAMPAIGN_FORMAT:?}",
            path.display()
        );
    }
    serde_json::from_value(value).with_context(|| format!("reading {}", path.display()))
}

/// A merged campaign: the shards' results by seed, and which folder each seed came from.
pub struct Merged {
    pub campaign: Campaign,
    /// Per seed, the index (into the folders given) of the shard that judged it.
    pub from: BTreeMap<u64, usize>,
    /// Campaign seeds no shard judged (empty unless missing seeds were allowed).
    pub missing: Vec<u64>,
}

/// Checks that the shards (`(folder, fuzz.json)`, in the order given) are parts of one
/// campaign and merges their results; errors name the folders that disagree.
pub fn merge_campaigns(
    shards: &[(PathBuf, Campaign)],
    allow_missing: bool,
) -> anyhow::Result<Merged> {
    let Some((first_dir, first)) = shards.first() else {
        bail!("no shard folders given");
    };
    let campaign_seeds = parse_seeds(&first.seeds)
        .with_context(|| format!("{}: seeds {:?}", first_dir.display(), first.seeds))?;
    let mut seen_shards: BTreeMap<(usize, usize), &Path> = BTreeMap::new();
    for (dir, c) in shards {
        let differ = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            anyhow::anyhow!(
                "{} and {} are not shards of one campaign: {what} {a:?} and {b:?} differ",
                first_dir.display(),
                dir.display()
            )
        };
        if c.eddy_version != first.eddy_version || c.eddy_build != first.eddy_build {
            return Err(differ(
                "eddy versions (version, build digest)",
                &(&first.eddy_version, &first.eddy_build),
                &(&c.eddy_version, &c.eddy_build),
            )
            .context("run every shard with the same eddy binary"));
        }
        if c.scenario_digest != first.scenario_digest {
            return Err(differ(
                "scenario files (contents digest)",
                &(&first.scenario, &first.scenario_digest),
                &(&c.scenario, &c.scenario_digest),
            ));
        }
        if c.scenario != first.scenario {
            return Err(differ(
                "scenario paths (reproduction lines name them)",
                &first.scenario,
                &c.scenario,
            ));
        }
        if c.plants != first.plants {
            return Err(differ("planted bugs", &first.plants, &c.plants));
        }
        if c.seeds != first.seeds {
            let same = parse_seeds(&c.seeds).is_ok_and(|s| s == campaign_seeds);
            if !same {
                return Err(differ("seed ranges", &first.seeds, &c.seeds));
            }
        }
        if let Some(shard) = c.shard {
            if let Some(other) = seen_shards.insert((shard.index, shard.count), dir) {
                bail!(
                    "{} and {} are both shard {shard} of the campaign",
                    other.display(),
                    dir.display()
                );
            }
        }
    }
    let in_campaign: BTreeSet<u64> = campaign_seeds.iter().copied().collect();
    let mut results: BTreeMap<u64, Outcome> = BTreeMap::new();
    let mut from: BTreeMap<u64, usize> = BTreeMap::new();
    for (k, (dir, c)) in shards.iter().enumerate() {
        for r in &c.results {
            if !in_campaign.contains(&r.seed) {
                bail!(
                    "{} judged seed {}, which is not in the campaign's seeds {}",
                    dir.display(),
                    r.seed,
                    first.seeds
                );
            }
            if let Some(other) = from.insert(r.seed, k) {
                bail!(
                    "seed {} was judged twice: in {} and in {} (overlapping shards, or a \
                     folder given twice)",
                    r.seed,
                    shards[other].0.display(),
                    dir.display()
                );
            }
            results.insert(r.seed, r.clone());
        }
    }
    let missing: Vec<u64> = campaign_seeds
        .iter()
        .copied()
        .filter(|s| !results.contains_key(s))
        .collect();
    if !missing.is_empty() && !allow_missing {
        let shown: Vec<String> = missing.iter().take(10).map(u64::to_string).collect();
        let counts: BTreeSet<usize> = seen_shards.keys().map(|(_, n)| *n).collect();
        let absent: Vec<String> = match counts.iter().collect::<Vec<_>>()[..] {
            [&n] => (0..n)
                .filter(|i| !seen_shards.contains_key(&(*i, n)))
                .map(|i| format!("{i}/{n}"))
                .collect(),
            _ => Vec::new(),
        };
        bail!(
            "{} of the campaign's {} seeds are in no shard given ({}{}){}; merge every shard, \
             or pass --allow-missing for a partial summary",
            missing.len(),
            campaign_seeds.len(),
            shown.join(", "),
            if missing.len() > shown.len() {
                ", …"
            } else {
                ""
            },
            if absent.is_empty() {
                String::new()
            } else {
                format!("; shards not given: {}", absent.join(", "))
            }
        );
    }
    let campaign = Campaign {
        shard: None,
        results: results.into_values().collect(),
        ..first.clone()
    };
    Ok(Merged {
        campaign,
        from,
        missing,
    })
}

pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    if let Some(out) = &args.out {
        let out_real = std::path::absolute(out)?;
        for dir in &args.dirs {
            if std::path::absolute(dir).ok().as_ref() == Some(&out_real)
                || (out.exists() && dir.canonicalize().ok() == out.canonicalize().ok())
            {
                bail!(
                    "--out {} is one of the shard folders; merge into another folder",
                    out.display()
                );
            }
        }
    }
    let mut shards = Vec::new();
    for dir in &args.dirs {
        shards.push((dir.clone(), read_campaign(dir)?));
    }
    let Merged {
        mut campaign,
        from,
        missing,
    } = merge_campaigns(&shards, args.allow_missing)?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        // The failing seeds' folders move under the merged folder (hard links where the
        // file system allows, copies otherwise); passing seeds' folders stay where they are.
        for r in &mut campaign.results {
            let Some(kept) = r.kept.take() else { continue };
            if r.status == "ok" {
                r.history = None;
                continue;
            }
            let source = args.dirs[from[&r.seed]].join(&kept);
            let name = format!("seed-{}", r.seed);
            let target = out.join(&name);
            if target.exists() {
                std::fs::remove_dir_all(&target)
                    .with_context(|| format!("replacing {}", target.display()))?;
            }
            link_or_copy_dir(&source, &target)?;
            r.history = r
                .history
                .as_ref()
                .map(|_| format!("{name}/history.jsonl"))
                .filter(|h| out.join(h).is_file());
            r.kept = Some(name);
        }
        write_campaign(out, &campaign)?;
    }
    println!(
        "eddy fuzz merge {} — {} shard folder(s), {} seed(s) of {} ({}){}",
        campaign.scenario,
        args.dirs.len(),
        campaign.results.len(),
        campaign.seed_count,
        campaign.seeds,
        match &args.out {
            Some(out) => format!(", output in {}", out.display()),
            None => String::new(),
        }
    );
    if !missing.is_empty() {
        println!(
            "warning: {} of the campaign's {} seeds are in no shard given: this summary is partial",
            missing.len(),
            campaign.seed_count
        );
    }
    let kept_in = |seed: u64| match &args.out {
        Some(out) => out.join(format!("seed-{seed}")),
        None => args.dirs[from[&seed]].join(format!("seed-{seed}")),
    };
    print!("{}", summary(&campaign.results, kept_in));
    finish(&campaign, args.junit.as_deref())
}

/// Recreates the folder `from` at `to`, hard-linking each file (copying where linking fails,
/// e.g. across file systems).
fn link_or_copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries = std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            link_or_copy_dir(&source, &target)?;
        } else if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target)
                .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::{reproduce_command, Shard};

    fn outcome(seed: u64, status: &str) -> Outcome {
        Outcome {
            seed,
            status: status.into(),
            detail: if status == "ok" {
                String::new()
            } else {
                "lost_write=1".into()
            },
            produce_p99_ms: Some(100.0 + seed as f64),
            violations: u64::from(status != "ok"),
            counts: BTreeMap::from([("lost_write".into(), u64::from(status != "ok"))]),
            judged: BTreeMap::from([("lost_write".into(), 10)]),
            silent: Vec::new(),
            probes: BTreeMap::new(),
            reproduce: reproduce_command("s.json", &[], seed),
            kept: (status != "ok").then(|| format!("seed-{seed}")),
            history: None,
        }
    }

    /// Shard `i` of `n` of seeds 1..=8, seed 3 failing.
    fn shard(i: usize, n: usize) -> (PathBuf, Campaign) {
        let seeds: Vec<u64> = (1..=8).collect();
        let results = crate::fuzz::shard_seeds(&seeds, (i, n))
            .into_iter()
            .map(|s| outcome(s, if s == 3 { "violation" } else { "ok" }))
            .collect();
        (
            PathBuf::from(format!("shard-{i}")),
            Campaign {
                format: CAMPAIGN_FORMAT.into(),
                eddy_version: "0.1.0".into(),
                eddy_build: "b".into(),
                scenario: "s.json".into(),
                scenario_digest: "d".into(),
                plants: Vec::new(),
                seeds: "1..=8".into(),
                seed_count: 8,
                shard: Some(Shard { index: i, count: n }),
                results,
            },
        )
    }

    fn error(shards: &[(PathBuf, Campaign)]) -> String {
        format!(
            "{:#}",
            merge_campaigns(shards, false).err().expect("refused")
        )
    }

    #[test]
    fn shards_merge_into_the_unsharded_campaign() {
        let shards: Vec<_> = (0..4).map(|i| shard(i, 4)).collect();
        let merged = merge_campaigns(&shards, false).unwrap();
        let mut whole = shard(0, 1).1;
        whole.shard = None;
        assert_eq!(merged.campaign, whole);
        assert_eq!(merged.from[&3], 2);
        // Shards of different counts merge too, as long as every seed is judged once.
        let mixed = [shard(0, 2), shard(1, 4), shard(3, 4)];
        assert_eq!(merge_campaigns(&mixed, false).unwrap().campaign, whole);
    }

    #[test]
    fn mismatched_shards_are_refused() {
        let mut s = vec![shard(0, 2), shard(1, 2)];
        s[1].1.scenario_digest = "other".into();
        assert!(error(&s).contains("scenario files"), "{}", error(&s));
        let mut s = vec![shard(0, 2), shard(1, 2)];
        s[1].1.eddy_build = "other".into();
        assert!(error(&s).contains("eddy versions"), "{}", error(&s));
        let mut s = vec![shard(0, 2), shard(1, 2)];
        s[1].1.eddy_version = "9.9.9".into();
        assert!(error(&s).contains("eddy versions"), "{}", error(&s));
        let mut s = vec![shard(0, 2), shard(1, 2)];
        s[1].1.plants = vec!["no-fencing".into()];
        assert!(error(&s).contains("planted bugs"), "{}", error(&s));
        let mut s = vec![shard(0, 2), shard(1, 2)];
        s[1].1.seeds = "1..=9".into();
        assert!(error(&s).contains("seed ranges"), "{}", error(&s));
        // The same range written another way is the same campaign.
        let mut s = vec![shard(0, 2), shard(1, 2)];
        s[1].1.seeds = "1..9".into();
        assert!(merge_campaigns(&s, false).is_ok());
    }

    #[test]
    fn overlapping_duplicate_and_missing_seeds_are_refused() {
        let s = [shard(0, 2), shard(0, 2)];
        assert!(error(&s).contains("both shard 0/2"), "{}", error(&s));
        let s = [shard(0, 2), shard(0, 4)];
        assert!(error(&s).contains("judged twice"), "{}", error(&s));
        let s = [shard(0, 4), shard(1, 4), shard(3, 4)];
        let e = error(&s);
        assert!(e.contains("2 of the campaign's 8 seeds"), "{e}");
        assert!(e.contains("(3, 7)"), "{e}");
        assert!(e.contains("shards not given: 2/4"), "{e}");
        let partial = merge_campaigns(&s, true).unwrap();
        assert_eq!(partial.missing, [3, 7]);
        assert_eq!(partial.campaign.results.len(), 6);
        let mut s = vec![shard(0, 1)];
        s[0].1.results.push(outcome(42, "ok"));
        assert!(error(&s).contains("not in the campaign"), "{}", error(&s));
        assert!(error(&[]).contains("no shard folders"));
    }
}
