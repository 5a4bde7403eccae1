//! The crash harness (issue #14): a verifying client writes, overwrites, copies, deletes, tags and
//! completes multipart uploads at concurrency 16 while the server is killed with SIGKILL at a
//! random moment; after each restart every acknowledged write reads back exactly, every
//! acknowledged delete stays deleted, an operation cut short by the kill shows either its old or
//! its new state and nothing in between, the listing agrees, and `strata check` finds nothing.
//!
//! A power loss is simulated too: the data directory is on an ext4 file system on a loop device
//! mounted with a 600 s journal commit interval, so nothing reaches the device but what a sync
//! flushes; at the crash point the server is killed and the device's image copied while the
//! kernel's periodic writeback is held off, the original is dropped, and the copy (what the disk
//! held: every synced write, and whatever else happened to be written) is mounted in its place.
//! Every write not covered by a sync is lost, as in a power cut.
//!
//! The short forms (5 kills, 5 power losses) run with the suite. The long forms are
//! `STRATA_CRASH_KILLS=100 cargo test -p strata-conformance-tests crash_harness -- --nocapture`
//! (both harnesses; the power-loss one needs root, and without it says so and does not run);
//! `STRATA_CRASH_SEED=N` replays a run (each run prints its seed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;

use crate::common::{
    completed_parts, create_bucket, random_bytes, running_as_root, strata_check, tagging, Server,
    ServerOptions, MIB,
};

const TASKS: u64 = 16;
const KEYS_PER_TASK: u64 = 4;

/// What a key holds: its bytes (None: no object) and its tags.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    body: Option<Vec<u8>>,
    tags: BTreeMap<String, String>,
}

impl State {
    fn absent() -> State {
        State {
            body: None,
            tags: BTreeMap::new(),
        }
    }
}

/// Per key, the states it may be in: one when every operation on it was answered, two when the
/// kill cut one short (before and after).
type Model = BTreeMap<String, Vec<State>>;

/// xorshift64*: enough randomness for choosing operations, replayable from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(task: u64, k: u64) -> String {
    format!("t{task:02}/k{k}")
}

/// One operation and the state it leads to.
enum Op {
    Put(String, Vec<u8>),
    Copy { from: String, to: String },
    Delete(String),
    Tag(String, BTreeMap<String, String>),
    Multipart(String, Vec<Vec<u8>>),
}

/// Chooses an operation for one of the task's keys whose state is known.
fn choose(rng: &mut Rng, task: u64, model: &Model, seq: u64) -> Op {
    let k = key(task, rng.below(KEYS_PER_TASK));
    let present = |name: &str| {
        let states = &model[name];
        states.len() == 1 && states[0].body.is_some()
    };
    let size = [0, 1024, 200 * 1024, 1536 * 1024][rng.below(4) as usize];
    let seed = task << 32 | seq;
    match rng.below(12) {
        0..=4 => Op::Put(k, random_bytes(size, seed)),
        5 | 6 => {
            let from = key(task, rng.below(KEYS_PER_TASK));
            if present(&from) && from != k {
                Op::Copy { from, to: k }
            } else {
                Op::Put(k, random_bytes(size, seed))
            }
        }
        7 | 8 => Op::Delete(k),
        9 | 10 if present(&k) => {
            let tags = BTreeMap::from([("seq".to_owned(), seq.to_string())]);
            Op::Tag(k, tags)
        }
        11 => Op::Multipart(
            k,
            vec![
                random_bytes(5 * MIB, seed),
                random_bytes(100 * 1024, seed ^ 1),
            ],
        ),
        _ => Op::Delete(k),
    }
}

/// The key an operation changes and the state it leads to from `model`.
fn outcome(op: &Op, model: &Model) -> (String, State) {
    match op {
        Op::Put(k, body) => (
            k.clone(),
            State {
                body: Some(body.clone()),
                tags: BTreeMap::new(),
            },
        ),
        // CopyObject copies the tags by default (x-amz-tagging-directive COPY).
        Op::Copy { from, to } => (to.clone(), model[from][0].clone()),
        Op::Delete(k) => (k.clone(), State::absent()),
        Op::Tag(k, tags) => (
            k.clone(),
            State {
                body: model[k][0].body.clone(),
                tags: tags.clone(),
            },
        ),
        Op::Multipart(k, parts) => (
            k.clone(),
            State {
                body: Some(parts.concat()),
                tags: BTreeMap::new(),
            },
        ),
    }
}

async fn send(client: &Client, bucket: &str, op: &Op) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
    match op {
        Op::Put(k, body) => client
            .put_object()
            .bucket(bucket)
            .key(k)
            .body(body.clone().into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(&e)),
        Op::Copy { from, to } => client
            .copy_object()
            .bucket(bucket)
            .key(to)
            .copy_source(format!("{bucket}/{from}"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(&e)),
        Op::Delete(k) => client
            .delete_object()
            .bucket(bucket)
            .key(k)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(&e)),
        Op::Tag(k, tags) => {
            let pairs: Vec<(&str, &str)> =
                tags.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            client
                .put_object_tagging()
                .bucket(bucket)
                .key(k)
                .tagging(tagging(&pairs))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err(&e))
        }
        Op::Multipart(k, parts) => {
            let up = client
                .create_multipart_upload()
                .bucket(bucket)
                .key(k)
                .send()
                .await
                .map_err(|e| err(&e))?;
            let id = up.upload_id().unwrap_or_default().to_owned();
            let mut etags = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let out = client
                    .upload_part()
                    .bucket(bucket)
                    .key(k)
                    .upload_id(&id)
                    .part_number(i as i32 + 1)
                    .body(part.clone().into())
                    .send()
                    .await
                    .map_err(|e| err(&e))?;
                etags.push((i as i32 + 1, out.e_tag().unwrap_or_default().to_owned()));
            }
            let list: Vec<(i32, &str)> = etags.iter().map(|(n, e)| (*n, e.as_str())).collect();
            client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(k)
                .upload_id(&id)
                .multipart_upload(completed_parts(&list))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err(&e))
        }
    }
}

/// One task's share of a round: operations until the server dies. Returns the task's keys'
/// states, or the error of an operation that failed while the server was still up.
async fn run_task(
    client: Client,
    bucket: String,
    task: u64,
    mut model: Model,
    mut rng: Rng,
    killed: Arc<AtomicBool>,
    mut seq: u64,
) -> Result<(Model, u64), String> {
    loop {
        let op = choose(&mut rng, task, &model, seq);
        seq += 1;
        let (k, after) = outcome(&op, &model);
        match send(&client, &bucket, &op).await {
            Ok(()) => {
                model.insert(k, vec![after]);
            }
            Err(_) if killed.load(Ordering::SeqCst) => {
                // Cut short by the kill: either state may have been committed.
                let before = model[&k][0].clone();
                if before != after {
                    model.insert(k, vec![before, after]);
                }
                return Ok((model, seq));
            }
            Err(e) => return Err(format!("{k}: {e}")),
        }
    }
}

/// What the key holds now on the server.
async fn read_state(client: &Client, bucket: &str, k: &str) -> State {
    match client.get_object().bucket(bucket).key(k).send().await {
        Ok(out) => {
            let body = out
                .body
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{k}: body: {e}"))
                .into_bytes()
                .to_vec();
            let tags = client
                .get_object_tagging()
                .bucket(bucket)
                .key(k)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{k}: GetObjectTagging: {e:?}"))
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            State {
                body: Some(body),
                tags,
            }
        }
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            assert_eq!(status, Some(404), "{k}: GetObject after restart: {e:?}");
            State::absent()
        }
    }
}

fn describe(s: &State) -> String {
    match &s.body {
        None => "absent".into(),
        Some(b) => format!("{} bytes, tags {:?}", b.len(), s.tags),
    }
}

/// Checks every key against the models after a restart and makes them certain again.
async fn verify(client: &Client, bucket: &str, models: &mut [Model], round: u32, seed: u64) {
    let mut present = BTreeSet::new();
    for (k, states) in models.iter_mut().flat_map(|m| m.iter_mut()) {
        let now = read_state(client, bucket, k).await;
        assert!(
            states.contains(&now),
            "round {round} (seed {seed}): {k} holds {} but may only hold {}",
            describe(&now),
            states.iter().map(describe).collect::<Vec<_>>().join(" or ")
        );
        if now.body.is_some() {
            present.insert(k.clone());
        }
        *states = vec![now];
    }
    let mut listed = BTreeSet::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("ListObjectsV2 after restart");
        listed.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    assert_eq!(listed, present, "round {round} (seed {seed}): the listing");
}

/// An ext4 file system in an image file on a loop device, mounted so that only syncs write to the
/// device: the stand-in for a disk that loses power.
struct Disk {
    dir: tempfile::TempDir,
}

impl Disk {
    /// Makes and mounts the file system; None, after saying so, when the tests do not run as
    /// root (mounting needs it).
    fn create() -> Option<Disk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let disk = Disk { dir };
        std::fs::create_dir(disk.mount_point()).expect("mount point");
        let made = Command::new("truncate")
            .args(["-s", "512M"])
            .arg(disk.image())
            .status()
            .is_ok_and(|s| s.success())
            && Command::new("mkfs.ext4")
                .args(["-q", "-F"])
                .arg(disk.image())
                .status()
                .is_ok_and(|s| s.success());
        assert!(made, "mkfs.ext4 on an image file failed");
        if !disk.mount() {
            if running_as_root() {
                panic!("mounting an ext4 image on a loop device failed as root");
            }
            eprintln!("not run: mounting a loop device needs root");
            return None;
        }
        Some(disk)
    }

    fn image(&self) -> PathBuf {
        self.dir.path().join("disk.img")
    }

    fn mount_point(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// The data directory on the disk.
    fn data_dir(&self) -> PathBuf {
        self.mount_point().join("data")
    }

    /// Journal commits only every 600 s: between syncs nothing is written to the device.
    fn mount(&self) -> bool {
        Command::new("mount")
            .args(["-t", "ext4", "-o", "loop,commit=600"])
            .arg(self.image())
            .arg(self.mount_point())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn unmount(&self) {
        let ok = Command::new("umount")
            .arg(self.mount_point())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "umount failed");
    }

    /// The power goes: (the server is already dead) the device's contents are copied as they
    /// are, with the kernel's periodic writeback held off so that nothing reaches the device
    /// meanwhile; the file system with its unsynced pages is dropped and the copy mounted.
    fn power_loss(&self) {
        let snapshot = self.dir.path().join("after-power-loss.img");
        let knob = Path::new("/proc/sys/vm/dirty_writeback_centisecs");
        let saved = std::fs::read_to_string(knob).expect("read writeback interval");
        std::fs::write(knob, "0").expect("hold writeback off");
        let copied = Command::new("cp")
            .args(["--sparse=always"])
            .arg(self.image())
            .arg(&snapshot)
            .status();
        std::fs::write(knob, saved.trim()).expect("restore writeback interval");
        assert!(
            copied.is_ok_and(|s| s.success()),
            "copying the image failed"
        );
        self.unmount();
        std::fs::rename(&snapshot, self.image()).expect("the copy becomes the disk");
        assert!(self.mount(), "the disk does not mount after the power loss");
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.mount_point())
            .status();
    }
}

#[tokio::test]
async fn crash_harness_kill_9_at_random_moments() {
    let server = Server::start();
    harness(server, None, "kill -9").await;
}

// Issue 14: only a process kill was tested, which keeps every write the kernel accepted; a power
// loss drops what no sync covered.
#[tokio::test]
async fn crash_harness_power_loss_at_random_moments() {
    let Some(disk) = Disk::create() else { return };
    std::fs::create_dir(disk.data_dir()).expect("data dir");
    // `STRATA_CRASH_DURABILITY=process` runs it against the mode that does not sync, to see the
    // harness catch lost acknowledged writes.
    let durability = std::env::var("STRATA_CRASH_DURABILITY").unwrap_or_else(|_| "full".into());
    let server = Server::start_with(ServerOptions {
        data_dir: Some(disk.data_dir()),
        extra_args: vec!["--durability".into(), durability],
        ..ServerOptions::default()
    });
    harness(server, Some(&disk), "power loss").await;
}

/// Rounds of load cut short by a crash (a power loss when `disk` is given, else `kill -9`), each
/// followed by a restart and the checks.
async fn harness(mut server: Server, disk: Option<&Disk>, what: &str) {
    let kills: u32 = std::env::var("STRATA_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("STRATA_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash harness ({what}): {kills} crashes, STRATA_CRASH_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let bucket = create_bucket(&server.client(), "crash").await;
    let mut models: Vec<Model> = (0..TASKS)
        .map(|t| {
            (0..KEYS_PER_TASK)
                .map(|k| (key(t, k), vec![State::absent()]))
                .collect()
        })
        .collect();
    let mut seqs = vec![0u64; TASKS as usize];
    for round in 1..=kills {
        let client = server.client();
        let killed = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                tokio::spawn(run_task(
                    client.clone(),
                    bucket.clone(),
                    t,
                    models[t as usize].clone(),
                    Rng(rng.next() | 1),
                    killed.clone(),
                    seqs[t as usize],
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1000 + rng.below(2000))).await;
        killed.store(true, Ordering::SeqCst);
        server.stop();
        if let Some(disk) = disk {
            disk.power_loss();
        }
        for (t, task) in tasks.into_iter().enumerate() {
            let (model, seq) = task.await.expect("task").unwrap_or_else(|e| {
                panic!("round {round} (seed {seed}): a write failed before the kill: {e}")
            });
            models[t] = model;
            seqs[t] = seq;
        }
        // Recovery runs at start; then every key is checked against what was acknowledged.
        server.start_again();
        let client = server.client();
        verify(&client, &bucket, &mut models, round, seed).await;
        // The offline check finds nothing once recovery has run.
        assert!(server.terminate(Duration::from_secs(30)).success());
        let (code, out) = strata_check(&server.data_dir(), &[]);
        assert_eq!(
            code, 0,
            "round {round} (seed {seed}): strata check after recovery:\n{out}"
        );
        server.start_again();
    }
    let ops: u64 = seqs.iter().sum();
    println!("crash harness ({what}): {kills} crashes, {ops} operations, every acknowledged write intact");
    assert!(ops >= u64::from(kills) * TASKS, "too few operations ran");
}
