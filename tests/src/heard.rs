//! What a listener's speakers actually play: a private PulseAudio server with null sinks whose
//! monitors are recorded with `parec` (verified recipe in `shared/TESTING.md`), and the analysis
//! of a recorded groove — onsets found in the audio, inter-onset intervals against the
//! drummer's, accents to prove order and that nothing played twice.
//!
//! Needs `pulseaudio` and `parec` (`pulseaudio-utils`); `scripts/test` installs them.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jam_midi::{MidiEvent, MidiMessage, Recording};

use crate::PATIENCE;

/// Recording rate (what the null sinks run at and `parec` writes).
pub const RATE: u32 = 48_000;

/// A child process killed when dropped, pass or fail.
pub struct Proc(Child);

impl Proc {
    /// Stops it as Ctrl-C would (`parec` then writes out what it holds) and waits for it.
    pub fn stop(mut self) {
        crate::sigterm(self.0.id());
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A program on `PATH` (or in `~/.cargo/bin`), or a panic that says how to get it.
pub fn tool(name: &str) -> PathBuf {
    let cargo_bin = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin").join(name));
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain(cargo_bin)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is missing: ./scripts/test installs it"))
}

/// A private PulseAudio server (its own socket in `dir`) with one null sink per name.
pub struct Pulse {
    _child: Proc,
    server: String,
}

impl Pulse {
    /// Starts the server and waits (bounded) until it lists every sink.
    pub fn start(dir: &Path, sinks: &[&str]) -> Pulse {
        let modules: Vec<String> = sinks
            .iter()
            .map(|sink| format!("module-null-sink sink_name={sink} rate={RATE} sink_properties=device.description={sink}"))
            .collect();
        Pulse::start_modules(dir, &modules, sinks)
    }

    /// A server with one stereo null sink, [`BOTH`], and two mono sinks that play into its
    /// left and right channel ([`LEFT`], [`RIGHT`]: `module-remap-sink`): two programs, one on
    /// each side, recorded in one file with one clock ([`Pulse::record_both`]).
    pub fn start_split(dir: &Path) -> Pulse {
        let side = |name: &str, channel: &str| {
            format!(
                "module-remap-sink sink_name={name} master={BOTH} channels=1 \
                 master_channel_map={channel} channel_map=mono remix=no"
            )
        };
        let modules = [
            format!("module-null-sink sink_name={BOTH} rate={RATE} channels=2"),
            side(LEFT, "front-left"),
            side(RIGHT, "front-right"),
        ];
        Pulse::start_modules(dir, &modules, &[BOTH, LEFT, RIGHT])
    }

    /// Starts the server with `modules` loaded and waits (bounded) until it lists `sinks`.
    fn start_modules(dir: &Path, modules: &[String], sinks: &[&str]) -> Pulse {
        std::fs::create_dir_all(dir).expect("a folder for PulseAudio");
        let socket = dir.join("pulse.sock");
        let server = format!("unix:{}", socket.display());
        let mut command = Command::new(tool("pulseaudio"));
        command
            .args([
                "--daemonize=no",
                "-n",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--use-pid-file=no",
                "--log-target=stderr",
            ])
            .arg(format!(
                "--load=module-native-protocol-unix auth-anonymous=1 socket={}",
                socket.display()
            ));
        for module in modules {
            command.arg(format!("--load={module}"));
        }
        let child = command
            .env("XDG_RUNTIME_DIR", dir)
            .env("HOME", dir)
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("pulseaudio.log")).expect("a log file"))
            .spawn()
            .expect("pulseaudio starts");
        let pulse = Pulse {
            _child: Proc(child),
            server,
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let listed = Command::new(tool("pactl"))
                .args(["--server", &pulse.server, "list", "short", "sinks"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if sinks.iter().all(|s| listed.contains(s)) {
                return pulse;
            }
            assert!(Instant::now() < deadline, "PulseAudio didn't come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The ids of the streams playing into this server now (`pactl list short sink-inputs`).
    pub fn sink_inputs(&self) -> Vec<String> {
        self.pactl(&["list", "short", "sink-inputs"])
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    /// Runs `pactl ARGS` on this server; gives its output.
    pub fn pactl(&self, args: &[&str]) -> String {
        let out = Command::new(tool("pactl"))
            .args(["--server", &self.server])
            .args(args)
            .output()
            .expect("pactl runs");
        assert!(
            out.status.success(),
            "pactl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Removes the null sink `sink`, as a sound card unplugged: the streams playing into it end.
    pub fn unplug(&self, sink: &str) {
        let modules = self.pactl(&["list", "short", "modules"]);
        let module = modules
            .lines()
            .find(|l| l.contains("module-null-sink") && l.contains(&format!("sink_name={sink}")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no null sink {sink}: {modules}"))
            .to_owned();
        self.pactl(&["unload-module", &module]);
    }

    /// Adds the null sink `sink` (again), as a sound card plugged in.
    pub fn plug(&self, sink: &str) {
        self.pactl(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={sink}"),
            &format!("rate={RATE}"),
        ]);
    }

    /// Freezes the sound server for `length` (SIGSTOP, then SIGCONT), as a loaded machine or a
    /// paused VM does: its streams underrun, and after it their timing is stale for a moment.
    pub async fn stall(&self, length: Duration) {
        let pid = self._child.0.id();
        crate::signal(pid, 19);
        tokio::time::sleep(length).await;
        crate::signal(pid, 18);
    }

    /// The `PULSE_SERVER` value for programs that should play here.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Records `sink`'s monitor into `path` as mono 16-bit samples at [`RATE`].
    pub fn record(&self, sink: &str, path: &Path) -> Proc {
        self.parec(sink, 1, path)
    }

    /// Records [`BOTH`] (`start_split`) into `path` as stereo 16-bit samples at [`RATE`].
    pub fn record_both(&self, path: &Path) -> Proc {
        self.parec(BOTH, 2, path)
    }

    /// `parec` of `sink`'s monitor into `path`: `channels` of 16-bit samples at [`RATE`].
    fn parec(&self, sink: &str, channels: u8, path: &Path) -> Proc {
        let child = Command::new(tool("parec"))
            .args(["--server", &self.server, "-d", &format!("{sink}.monitor")])
            .args([
                "--format=s16le",
                &format!("--rate={RATE}"),
                &format!("--channels={channels}"),
                "--latency-msec=10",
            ])
            .stdout(File::create(path).expect("a recording file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("parec starts");
        Proc(child)
    }
}

/// The stereo sink of [`Pulse::start_split`], and its two sides.
pub const BOTH: &str = "both";
pub const LEFT: &str = "left";
pub const RIGHT: &str = "right";

/// The left and right channels of a raw stereo `s16le` recording, full scale 1.0.
pub fn samples_both(path: &Path) -> (Vec<f32>, Vec<f32>) {
    let all = samples(path);
    let left = all.iter().step_by(2).copied().collect();
    let right = all.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

/// A 16-bit WAV file (what `jam render` writes) as mono samples, −1..1: its channels averaged.
pub fn wav_mono(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).expect("a readable WAV file");
    let channels = reader.spec().channels.max(1);
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("a whole sample")) / 32_768.0)
        .collect();
    samples
        .chunks_exact(usize::from(channels))
        .map(|frame| frame.iter().sum::<f32>() / f32::from(channels))
        .collect()
}

/// The samples of a raw mono `s16le` recording, full scale 1.0.
pub fn samples(path: &Path) -> Vec<f32> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .expect("the recording is readable");
    bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
        .collect()
}

/// The drum the groove is played on: the side stick, short and sharp.
pub const GROOVE_DRUM: u8 = 37;
/// Velocity of an accented (first of four) and of an ordinary 16th note.
pub const ACCENT: (u8, u8) = (127, 70);

/// Writes a groove: `notes` 16th notes at 120 BPM (125 ms apart) on [`GROOVE_DRUM`], the first
/// of every four accented, as a MIDI file (drums on channel 10), starting after `lead_in_ms`.
pub fn groove_file(path: &Path, notes: usize, lead_in_ms: u64) {
    let mut rec = Recording::new();
    let track = rec.track("Drums");
    for i in 0..notes {
        let at = (lead_in_ms + i as u64 * 125) * 1_000;
        let velocity = if i % 4 == 0 { ACCENT.0 } else { ACCENT.1 };
        for (dt, velocity) in [(0, velocity), (50_000, 0)] {
            rec.record(
                track,
                at + dt,
                MidiEvent {
                    channel: 9,
                    message: MidiMessage::NoteOn {
                        note: GROOVE_DRUM,
                        velocity,
                    },
                },
            );
        }
    }
    rec.save(path).expect("write the groove");
}

/// One sound found in a recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Onset {
    /// Where it starts, ms from the recording's start (sub-sample: interpolated).
    pub at_ms: f64,
    /// Its peak level (full scale 1.0).
    pub peak: f32,
}

/// Samples per envelope hop (0.5 ms).
const HOP: usize = 24;
/// Below this peak nothing is a sound (the null sink's silence is exactly 0).
const FLOOR: f32 = 0.01;

/// Every sound that starts in `x`: a hop whose peak is at least four times the loudest hop
/// of the 1–10 ms before it, above [`FLOOR`]. Its time is where the signal first reaches a
/// quarter of its peak (over the next 5 ms): the same point of every hit, whatever its
/// velocity, so intervals between identical hits are exact to a fraction of a sample.
pub fn onsets(x: &[f32]) -> Vec<Onset> {
    let envelope: Vec<f32> = x
        .chunks(HOP)
        .map(|c| c.iter().fold(0.0f32, |m, v| m.max(v.abs())))
        .collect();
    let before = 20; // hops: 10 ms
    let ahead = 10; // hops: 5 ms
    let mut found = Vec::new();
    let mut i = 1;
    while i < envelope.len() {
        // The 1–10 ms before (an attack may take a hop or two to rise).
        let quiet = envelope[i.saturating_sub(before)..i.saturating_sub(2)]
            .iter()
            .fold(0.0f32, |m, &v| m.max(v));
        if envelope[i] > FLOOR && envelope[i] > 4.0 * quiet {
            let end = (i + ahead).min(envelope.len());
            let peak = envelope[i..end].iter().fold(0.0f32, |m, &v| m.max(v));
            let start = i.saturating_sub(3) * HOP;
            let stop = (end * HOP).min(x.len());
            let level = peak / 4.0;
            if let Some(k) = (start..stop).find(|&k| x[k].abs() >= level) {
                let prev = if k > 0 { x[k - 1].abs() } else { 0.0 };
                let here = x[k].abs();
                let frac = if here > prev {
                    f64::from((level - prev) / (here - prev)).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let at = (k as f64 - 1.0 + frac) * 1_000.0 / f64::from(RATE);
                found.push(Onset { at_ms: at, peak });
            }
            // The next sound starts after this one's attack.
            i = end + 40;
        } else {
            i += 1;
        }
    }
    found
}

/// A heard groove compared with the one played: 16ths 125 ms apart, accented every four.
#[derive(Debug, Clone)]
pub struct Heard {
    /// The onsets in the recording.
    pub onsets: Vec<Onset>,
    /// |heard interval − 125 ms| for every pair of consecutive onsets, in order, ms.
    pub errors: Vec<f64>,
    /// Whether the accents fall on every fourth onset from the first (proof of order, and that
    /// nothing was lost or played twice in between).
    pub accents_in_place: bool,
    /// Onsets whose peak is well above an accent's (a note played twice at once).
    pub doubled: usize,
}

impl Heard {
    /// Analyses a recording of the groove of [`groove_file`].
    pub fn of(x: &[f32]) -> Heard {
        // Where the output dropped out and came back (an underrun on a loaded machine) the
        // sound resumes after a moment of silence, which looks like an attack, but what
        // resumes is at most the previous note's decaying tail: far quieter than any hit (the
        // groove's quietest notes are the typical level). Seen in CI: a 10 ms dropout 32 ms
        // into a note, its tail resuming at 0.35× the typical peak; and, on a machine loaded
        // with two busy loops, a 15 ms dropout 48 ms into an accent, its tail resuming at 0.18×
        // the accent (the typical level is a soft note's, so that tail was above half of it).
        // Not notes: a resumed tail is quieter than half the typical level, or comes within
        // 100 ms of the note it belongs to at under 0.4× its level (the groove's notes are
        // 125 ms apart, a soft note after an accent at 0.55× it).
        let mut onsets = onsets(x);
        let mut peaks: Vec<f32> = onsets.iter().map(|o| o.peak).collect();
        peaks.sort_by(f32::total_cmp);
        let typical = peaks.get(peaks.len() / 2).copied().unwrap_or(0.0);
        onsets.retain(|o| o.peak >= 0.5 * typical);
        let mut notes: Vec<Onset> = Vec::with_capacity(onsets.len());
        for o in onsets {
            let tail = notes
                .last()
                .is_some_and(|n| o.at_ms - n.at_ms < 100.0 && o.peak < 0.4 * n.peak);
            if !tail {
                notes.push(o);
            }
        }
        let onsets = notes;
        let errors = onsets
            .windows(2)
            .map(|w| (w[1].at_ms - w[0].at_ms - 125.0).abs())
            .collect();
        // The level of an accent and of an ordinary note, by where they should be.
        let level = |accent: bool| {
            let mut peaks: Vec<f32> = onsets
                .iter()
                .enumerate()
                .filter(|(i, _)| (i % 4 == 0) == accent)
                .map(|(_, o)| o.peak)
                .collect();
            peaks.sort_by(f32::total_cmp);
            peaks.get(peaks.len() / 2).copied().unwrap_or(0.0)
        };
        let (loud, soft) = (level(true), level(false));
        let expected = |i: usize| if i % 4 == 0 { loud } else { soft };
        let accents_in_place = loud > 1.5 * soft
            && onsets.iter().enumerate().all(|(i, o)| {
                let ratio = o.peak / expected(i);
                (0.7..1.4).contains(&ratio)
            });
        let doubled = onsets
            .iter()
            .enumerate()
            .filter(|(i, o)| o.peak > 1.5 * expected(*i))
            .count();
        Heard {
            onsets,
            errors,
            accents_in_place,
            doubled,
        }
    }

    /// How far the *placement* moved between consecutive onsets, ms: `steps()[i]` belongs to
    /// the interval `errors[i]` describes. Each onset's distance from a steady 125 ms grid is
    /// first taken as the median of it and its two neighbours (the first and last as they
    /// are). That keeps every change of level (a playout delay that stepped, grew or glided)
    /// and removes a lone displaced note (one interval long by x and the next short by x):
    /// that is the listener's machine handing one command to its engine late, or an output
    /// dropping out, not where the playout put the groove. [`Heard::displaced`] says which
    /// notes those were.
    pub fn steps(&self) -> Vec<f64> {
        let placed = self.placed();
        placed.windows(2).map(|w| (w[1] - w[0]).abs()).collect()
    }

    /// The notes displaced on their own (see [`Heard::steps`]): (index, ms off their
    /// neighbours' placement), for those off by more than `above` ms.
    pub fn displaced(&self, above: f64) -> Vec<(usize, f64)> {
        self.positions()
            .iter()
            .zip(self.placed())
            .enumerate()
            .map(|(i, (p, q))| (i, p - q))
            .filter(|(_, d)| d.abs() > above)
            .collect()
    }

    /// Each onset's distance, ms, from the grid that starts at the first onset.
    fn positions(&self) -> Vec<f64> {
        let first = self.onsets.first().map_or(0.0, |o| o.at_ms);
        let mut beat = 0.0;
        self.onsets
            .iter()
            .map(|o| {
                let p = o.at_ms - first - beat;
                beat += 125.0;
                p
            })
            .collect()
    }

    /// [`Heard::positions`] through a median of three. The first and last onsets stay as they
    /// are: a lone displaced first note can't be told from a placement that stepped right
    /// after it (the classic learning fault), so it counts as a step.
    fn placed(&self) -> Vec<f64> {
        let p = self.positions();
        (0..p.len())
            .map(
                |i| match (i.checked_sub(1).and_then(|b| p.get(b)), p.get(i + 1)) {
                    (Some(&before), Some(&after)) => {
                        let mut three = [before, p[i], after];
                        three.sort_by(f64::total_cmp);
                        three[1]
                    }
                    _ => p[i],
                },
            )
            .collect()
    }

    /// The `q` quantile (0–1) of `errors[range]`, ms.
    pub fn quantile(errors: &[f64], q: f64) -> f64 {
        let mut sorted = errors.to_vec();
        sorted.sort_by(f64::total_cmp);
        let last = sorted.len().saturating_sub(1);
        sorted
            .get((last as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    }
}

/// CPU time the hypervisor has taken from this machine since boot (the `steal` column of
/// `/proc/stat`, summed over CPUs), and the CPUs counted; `None` where there is no such file.
fn stolen() -> Option<(Duration, u32)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let steal: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    // USER_HZ is 100 on every Linux the project runs on.
    Some((
        Duration::from_millis(steal.saturating_mul(10)),
        u32::try_from(cpus).ok()?,
    ))
}

/// Share of the machine's CPU the hypervisor took above which a failed live take is the
/// machine's doing, not the program's: 1 %. (CI's VMs average about that over a day, in bursts
/// of up to a quarter of the CPU for a second; a listener's output then underruns, and a take
/// can fail however right the program is.)
pub const STOLEN_LIMIT: f64 = 0.01;

/// Most takes of one live check.
pub const TAKES: u32 = 5;

/// A live, real-time check taken up to [`TAKES`] times. `take(n)` runs take `n` and says
/// whether what it heard holds. A take that fails while the hypervisor took more than
/// [`STOLEN_LIMIT`] of the machine's CPU is taken again, saying so; any other failure, or the
/// last take's, fails the check with what was heard.
pub async fn taken<F, Fut>(what: &str, mut take: F)
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    for n in 1..=TAKES {
        let before = stolen();
        let started = Instant::now();
        let result = take(n).await;
        let Err(failure) = result else { return };
        let share = match (before, stolen()) {
            (Some((b, cpus)), Some((a, _))) => {
                let available = started.elapsed().as_secs_f64() * f64::from(cpus.max(1));
                a.saturating_sub(b).as_secs_f64() / available.max(1e-9)
            }
            _ => 0.0,
        };
        if share <= STOLEN_LIMIT || n == TAKES {
            panic!(
                "{what}, take {n} of {TAKES} ({:.1} % of the CPU stolen by the hypervisor): {failure}",
                share * 100.0
            );
        }
        eprintln!(
            "{what}: take {n} failed while the hypervisor took {:.1} % of the CPU; taking it again: {failure}",
            share * 100.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard_at(times: &[f64]) -> Heard {
        let onsets: Vec<Onset> = times
            .iter()
            .map(|&at_ms| Onset { at_ms, peak: 1.0 })
            .collect();
        let errors = onsets
            .windows(2)
            .map(|w| (w[1].at_ms - w[0].at_ms - 125.0).abs())
            .collect();
        Heard {
            onsets,
            errors,
            accents_in_place: true,
            doubled: 0,
        }
    }

    fn grid(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 * 125.0).collect()
    }

    #[test]
    fn a_lone_displaced_note_is_no_step_and_is_named() {
        for note in [1, 5, 8] {
            let mut times = grid(10);
            times[note] += 3.0;
            let heard = heard_at(&times);
            assert!(
                heard.steps().iter().all(|s| *s < 1e-9),
                "note {note}: {:?}",
                heard.steps()
            );
            let displaced = heard.displaced(1.0);
            assert_eq!(displaced.len(), 1, "note {note}: {displaced:?}");
            assert_eq!(displaced[0].0, note);
            assert!((displaced[0].1.abs() - 3.0).abs() < 1e-9);
        }
        // The first note alone can't be told from a step right after it: it counts as one.
        let mut times = grid(10);
        times[0] += 3.0;
        assert!((heard_at(&times).steps()[0] - 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_step_or_a_glide_of_the_placement_is_kept() {
        // The delay grew by 2 ms before note 4 (or note 1): every later note is 2 ms later.
        let mut times = grid(10);
        times[4..].iter_mut().for_each(|t| *t += 2.0);
        let steps = heard_at(&times).steps();
        assert!((steps[3] - 2.0).abs() < 1e-9, "{steps:?}");
        assert!(heard_at(&times).displaced(0.1).is_empty());
        let mut times = grid(10);
        times[1..].iter_mut().for_each(|t| *t += 2.0);
        assert!((heard_at(&times).steps()[0] - 2.0).abs() < 1e-9);
        // A glide of 0.5 ms per note shows on every interval.
        let gliding: Vec<f64> = grid(10)
            .iter()
            .enumerate()
            .map(|(i, t)| t - 0.5 * i as f64)
            .collect();
        assert!(
            heard_at(&gliding)
                .steps()
                .iter()
                .all(|s| (s - 0.5).abs() < 1e-9)
        );
        // Two notes displaced together are a placement, not a lone note.
        let mut two = grid(10);
        two[3] += 2.0;
        two[4] += 2.0;
        assert!(heard_at(&two).steps().iter().any(|s| *s > 1.9));
    }
}
