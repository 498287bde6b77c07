use super::*;

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.into()).unwrap()
}

#[test]
fn timestamps_cross_the_wire_exactly() {
    // Relay times are about 1.8e12 ms with a fraction: the last bit matters, since
    // receivers compare and de-duplicate by them. (serde_json's default float parser can be
    // one unit in the last place off; the workspace enables `float_roundtrip`.)
    let mut timestamp = 1_796_135_159_844.280_5_f64;
    for _ in 0..10_000 {
        let hit = MusicalEvent::DrumHit(DrumHit {
            note: 38,
            velocity: 100,
            timestamp,
        });
        let back = MusicalEvent::parse("drum_hit", &hit.to_payload()).unwrap();
        assert_eq!(back, Some(hit), "{timestamp:?}");
        timestamp = f64::from_bits(timestamp.to_bits() + 1) + 0.013;
    }
}

#[test]
fn known_events_parse_and_unknown_pass() {
    let e = MusicalEvent::parse(
        "piano_note",
        &raw(r#"{"note":60,"velocity":90,"timestamp":5}"#),
    );
    assert_eq!(
        e.unwrap(),
        Some(MusicalEvent::PianoNote(PianoNote {
            note: 60,
            velocity: 90,
            timestamp: 5.0,
            duration: None
        }))
    );
    assert_eq!(MusicalEvent::parse("wobble", &raw("[1,2]")).unwrap(), None);
}

#[test]
fn out_of_range_values_are_refused_with_a_reason() {
    let cases = [
        (
            "drum_hit",
            r#"{"note":128,"velocity":90,"timestamp":0}"#,
            "note 128 is outside 0–127",
        ),
        (
            "piano_note",
            r#"{"note":60,"velocity":0,"timestamp":0}"#,
            "velocity 0 is outside 1–127",
        ),
        (
            "tempo_change",
            r#"{"bpm":2000,"beatsPerBar":4,"timestamp":0}"#,
            "bpm 2000 is outside 20–400",
        ),
        (
            "chat",
            r#"{"text":""}"#,
            "text must be 1–500 characters, not 0",
        ),
    ];
    for (name, payload, why) in cases {
        let err = MusicalEvent::parse(name, &raw(payload)).unwrap_err();
        assert_eq!(err.to_string(), format!("{name}: {why}"));
    }
    let err = MusicalEvent::parse("sustain", &raw(r#"{"timestamp":0}"#)).unwrap_err();
    assert_eq!(err.to_string(), "sustain: missing field `on`");
}

#[test]
fn payload_round_trips() {
    let e = MusicalEvent::TempoChange(TempoChange {
        bpm: 96.0,
        beats_per_bar: 4,
        timestamp: 1.0,
    });
    assert_eq!(
        MusicalEvent::parse(e.name(), &e.to_payload()).unwrap(),
        Some(e)
    );
}

#[test]
fn hostile_numbers_are_refused_in_every_timed_field() {
    let now = 1.8e12;
    let day = MAX_TIMESTAMP_SKEW_MS;
    for ts in ["-1e300", "1e300", "-1", "9007199254740993"] {
        for (name, payload) in [
            (
                "drum_hit",
                format!(r#"{{"note":36,"velocity":90,"timestamp":{ts}}}"#),
            ),
            (
                "piano_note",
                format!(r#"{{"note":60,"velocity":90,"timestamp":{ts}}}"#),
            ),
            (
                "piano_note_off",
                format!(r#"{{"note":60,"timestamp":{ts}}}"#),
            ),
            ("sustain", format!(r#"{{"on":true,"timestamp":{ts}}}"#)),
            (
                "tempo_change",
                format!(r#"{{"bpm":90,"beatsPerBar":4,"timestamp":{ts}}}"#),
            ),
            (
                "pattern_change",
                format!(r#"{{"patternId":"p","steps":[],"timestamp":{ts}}}"#),
            ),
        ] {
            let err = MusicalEvent::parse_at(name, &raw(&payload), now);
            assert!(err.is_err(), "{name} {ts}");
        }
    }
    let near = |t: f64| {
        MusicalEvent::DrumHit(DrumHit {
            note: 36,
            velocity: 9,
            timestamp: t,
        })
    };
    assert!(near(now + day).check_time(now).is_ok());
    assert!(near(now - day).check_time(now).is_ok());
    assert!(near(now + day + 1.0).check_time(now).is_err());
    assert!(near(now - day - 1.0).check_time(now).is_err());
    let err = near(0.0).check_time(now).unwrap_err().to_string();
    assert!(err.contains("more than a day from relay time"), "{err}");
}

#[test]
fn nesting_is_measured_outside_strings_and_bounded() {
    assert_eq!(json_depth("42"), 0);
    assert_eq!(json_depth(r#"{"a":[1,{"b":[]}]}"#), 4);
    assert_eq!(json_depth(r#"{"a":"[[[[\"[[["}"#), 1);
    let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
    let err = MusicalEvent::parse("wobble", &raw(&deep)).unwrap_err();
    assert!(err.to_string().contains("deeper than 32"), "{err}");
    let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
    assert_eq!(MusicalEvent::parse("wobble", &raw(&ok)).unwrap(), None);
    // Many brackets, shallow: counted past the quick bound, then scanned in full.
    let wide = format!("[{}]", vec!["[]"; 40].join(","));
    assert!(!nests_deeper_than(&wide, 32));
    let in_strings = format!(r#"{{"a":"{}"}}"#, "[{".repeat(40));
    assert!(!nests_deeper_than(&in_strings, 32));
    assert!(nests_deeper_than(&deep, 32));
    assert!(!nests_deeper_than(&ok, 32));
}

#[test]
fn durations_cursors_and_patterns_are_bounded() {
    let note = |d: &str| {
        MusicalEvent::parse(
            "piano_note",
            &raw(&format!(
                r#"{{"note":60,"velocity":90,"timestamp":5,"duration":{d}}}"#
            )),
        )
    };
    assert!(note("60000").is_ok());
    for d in ["60000.5", "1e300", "-1", "-0.5"] {
        assert!(note(d).is_err(), "{d}");
    }
    let err = note("1e300").unwrap_err().to_string();
    assert!(err.len() < 80, "the message stays short: {err}");
    assert!(MusicalEvent::parse("cursor", &raw(r#"{"x":1e7,"y":0}"#)).is_err());
    assert!(MusicalEvent::parse("cursor", &raw(r#"{"x":-3.5,"y":1e6}"#)).is_ok());
    let long_id = format!(
        r#"{{"patternId":"{}","steps":[],"timestamp":5}}"#,
        "p".repeat(65)
    );
    assert!(MusicalEvent::parse("pattern_change", &raw(&long_id)).is_err());
    let big = format!(
        r#"{{"patternId":"p","steps":"{}","timestamp":5}}"#,
        "x".repeat(MAX_PATTERN_BYTES)
    );
    assert!(MusicalEvent::parse("pattern_change", &raw(&big)).is_err());
    for (name, payload) in [
        ("drum_hit", r#"{"note":"36","velocity":90,"timestamp":5}"#),
        ("drum_hit", r#"{"note":-1,"velocity":90,"timestamp":5}"#),
        ("drum_hit", r#"{"note":36.5,"velocity":90,"timestamp":5}"#),
        ("drum_hit", r#"{"note":1e300,"velocity":90,"timestamp":5}"#),
        (
            "tempo_change",
            r#"{"bpm":90,"beatsPerBar":300,"timestamp":5}"#,
        ),
        (
            "tempo_change",
            r#"{"bpm":null,"beatsPerBar":4,"timestamp":5}"#,
        ),
        ("sustain", r#"{"on":1,"timestamp":5}"#),
        ("chat", r#"{"text":[[[[[]]]]]}"#),
    ] {
        assert!(
            MusicalEvent::parse(name, &raw(payload)).is_err(),
            "{payload}"
        );
    }
}

#[test]
fn instruments_are_ids_from_the_lists_and_nothing_else() {
    let ok = MusicalEvent::parse(
        "instrument",
        &raw(r#"{"keys":"finger-bass","drums":"brush-kit"}"#),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        ok,
        MusicalEvent::Instrument(InstrumentChange {
            keys: "finger-bass".into(),
            drums: "brush-kit".into()
        })
    );
    assert_eq!(
        MusicalEvent::parse("instrument", &ok.to_payload()).unwrap(),
        Some(ok)
    );
    let long = format!(
        r#"{{"keys":"{}","drums":"standard-kit"}}"#,
        "x".repeat(5000)
    );
    for (bad, says) in [
        (
            r#"{"keys":"kazoo","drums":"standard-kit"}"#,
            r#"keys "kazoo""#,
        ),
        (
            r#"{"keys":"grand-piano","drums":"grand-piano"}"#,
            "not a known kit",
        ),
        (
            r#"{"keys":"brush-kit","drums":"brush-kit"}"#,
            "not a known instrument",
        ),
        (
            r#"{"keys":"Grand-Piano","drums":"standard-kit"}"#,
            "not a known",
        ),
        (
            r#"{"keys":"grand-piano\u202e","drums":"standard-kit"}"#,
            "of 14 bytes",
        ),
        (r#"{"keys":"grand-piano"}"#, "missing field"),
        (r#"{"keys":1,"drums":"standard-kit"}"#, "invalid type"),
        (&long, "of 5000 bytes"),
    ] {
        let e = MusicalEvent::parse("instrument", &raw(bad)).unwrap_err();
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
}

#[test]
fn bends_and_modulation_are_bounded() {
    for (name, ok, bad) in [
        (
            "pitch_bend",
            [
                r#"{"value":-8192,"timestamp":5}"#,
                r#"{"value":8191,"timestamp":5}"#,
            ],
            [
                r#"{"value":8192,"timestamp":5}"#,
                r#"{"value":-9000,"timestamp":5}"#,
                r#"{"value":1.5,"timestamp":5}"#,
                r#"{"value":40000,"timestamp":5}"#,
                r#"{"value":0,"timestamp":-1}"#,
                r#"{"value":0}"#,
            ],
        ),
        (
            "modulation",
            [
                r#"{"value":0,"timestamp":5}"#,
                r#"{"value":127,"timestamp":5}"#,
            ],
            [
                r#"{"value":128,"timestamp":5}"#,
                r#"{"value":-1,"timestamp":5}"#,
                r#"{"value":300,"timestamp":5}"#,
                r#"{"value":"1","timestamp":5}"#,
                r#"{"value":1,"timestamp":1e300}"#,
                r#"{"timestamp":5}"#,
            ],
        ),
    ] {
        for p in ok {
            let e = MusicalEvent::parse(name, &raw(p)).unwrap().unwrap();
            assert_eq!(MusicalEvent::parse(name, &e.to_payload()).unwrap(), Some(e));
        }
        for p in bad {
            assert!(MusicalEvent::parse(name, &raw(p)).is_err(), "{name} {p}");
        }
    }
}
