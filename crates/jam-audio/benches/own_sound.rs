//! `own-sound-bench`: how long loading a player's own sound takes, from choosing it to being
//! able to play it (read, checked, parsed, converted, levelled against the piano). Run:
//! `cargo bench -p jam-audio --bench own_sound` — with `JAM_BENCH_SF2=FONT.sf2` for another
//! font than Debian's FluidR3 GM (`fluid-soundfont-gm`, 141 MB), which is used when present.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use jam_audio::SampleBank;
use jam_audio::own;

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    println!(
        "own-sound-bench: {what}: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    out
}

fn main() {
    let bank = Arc::new(SampleBank::load(&SampleBank::default_dir()).expect("assets"));
    let font = std::env::var_os("JAM_BENCH_SF2")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/sounds/sf2/FluidR3_GM.sf2"));
    if font.exists() {
        let mb = std::fs::metadata(&font).map_or(0, |m| m.len()) / 1_000_000;
        let presets = timed(
            &format!("listing the presets of {} ({mb} MB)", font.display()),
            || own::font_presets(&font).expect("presets"),
        );
        println!("own-sound-bench: {} melodic presets", presets.len());
        for (bank_no, program, what) in [
            (0, 0, "grand piano"),
            (0, 48, "strings"),
            (0, 4, "electric piano"),
        ] {
            let sound = timed(
                &format!("loading preset {bank_no}:{program} ({what})"),
                || own::load(&font, Some((bank_no, program)), &bank).expect("loads"),
            );
            println!(
                "own-sound-bench:   {} — {} zones",
                sound.name,
                sound.zone_count()
            );
        }
    } else {
        println!(
            "own-sound-bench: no {} (apt-get install fluid-soundfont-gm)",
            font.display()
        );
    }
    // A folder of 28 one-second recordings, one every minor third over 7 octaves.
    let dir = std::env::temp_dir().join(format!("own-sound-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    write_folder(&dir);
    let sound = timed(
        "loading a folder of 28 one-second WAV recordings (44.1 kHz stereo)",
        || own::load(&dir, None, &bank).expect("loads"),
    );
    println!("own-sound-bench:   {} zones", sound.zone_count());
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_folder(dir: &Path) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    for note in (24u8..108).step_by(3) {
        let hz = 440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0);
        let mut w =
            hound::WavWriter::create(dir.join(format!("{note:03}.wav")), spec).expect("wav");
        for i in 0..44_100 {
            let v = (std::f64::consts::TAU * hz * f64::from(i) / 44_100.0).sin() * 12_000.0;
            w.write_sample(v as i16).expect("sample");
            w.write_sample(v as i16).expect("sample");
        }
        w.finalize().expect("wav");
    }
}
