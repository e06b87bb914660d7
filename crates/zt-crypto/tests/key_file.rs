//! Loading, generating and printing key files.

use zt_crypto::{CryptoError, Keyring};

const INDEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const K1: &str = "0123456789abcdeffedcba9876543210";
const K2: &str = "ffeeddccbbaa99887766554433221100";

fn good() -> String {
    format!(
        "# Zhengtong keys\n\
         \n\
         index = {INDEX}\n\
         key k1 = {K1}   # retired 2026-01\n\
         key 2026a = {}\n\
         active = 2026a\n",
        K2.to_uppercase()
    )
}

/// Loads `text` and returns the (line, reason) of the expected KeyFile error.
fn key_file_error(text: &str) -> (Option<usize>, String) {
    match Keyring::from_text(text) {
        Err(CryptoError::KeyFile { line, reason }) => {
            // No error message may quote key material.
            for secret in [INDEX, K1, K2, &K2.to_uppercase(), "deadbeef"] {
                assert!(!reason.contains(secret), "{reason}");
            }
            (line, reason)
        }
        other => panic!("expected a KeyFile error, got {other:?} for:\n{text}"),
    }
}

#[test]
fn loads_a_valid_file_with_comments_blank_lines_and_upper_case_hex() {
    let ring = Keyring::from_text(&good()).unwrap();
    assert_eq!(ring.active_key_id(), "2026a");
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k1", "2026a"]);
    // CRLF line endings and a BOM (files edited on Windows) are fine too.
    let crlf = format!("\u{feff}{}", good().replace('\n', "\r\n"));
    assert_eq!(Keyring::from_text(&crlf).unwrap().active_key_id(), "2026a");
}

#[test]
fn active_may_come_before_its_key_line() {
    let text = format!("active = k1\nindex = {INDEX}\nkey k1 = {K1}\n");
    assert_eq!(Keyring::from_text(&text).unwrap().active_key_id(), "k1");
}

#[test]
fn generated_file_round_trips() {
    let (ring, text) = Keyring::generate("k1").unwrap();
    let reloaded = Keyring::from_text(&text).unwrap();
    assert_eq!(reloaded.active_key_id(), "k1");
    let v = ring.encrypt("users.mobile", "13800138000");
    assert_eq!(reloaded.decrypt("users.mobile", &v).unwrap(), "13800138000");
    assert_eq!(
        reloaded.blind_index("users.mobile", "13800138000"),
        ring.blind_index("users.mobile", "13800138000")
    );
    assert!(text.lines().any(|l| l.starts_with("index = ")));
    assert!(text.lines().any(|l| l.starts_with("key k1 = ")));
    assert!(text.lines().any(|l| l == "active = k1"));
}

#[test]
fn generated_keys_are_random() {
    let (_, a) = Keyring::generate("k1").unwrap();
    let (_, b) = Keyring::generate("k1").unwrap();
    assert_ne!(a, b);
}

#[test]
fn debug_output_shows_key_ids_only() {
    let text = good();
    let ring = Keyring::from_text(&text).unwrap();
    let debug = format!("{ring:?} {ring:#?}");
    assert!(debug.contains("2026a") && debug.contains("k1"), "{debug}");
    for secret in [INDEX, K1, K2, &K2.to_uppercase()] {
        assert!(!debug.contains(secret), "{debug}");
    }
    // Nor as a byte list.
    assert!(!debug.contains("[0, 1, 2"), "{debug}");

    let (generated, text) = Keyring::generate("k1").unwrap();
    let debug = format!("{generated:?}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.split_once('=').unwrap().1.trim();
        if value.len() >= 32 {
            assert!(!debug.contains(value), "{debug}");
        }
    }
}

#[test]
fn line_errors() {
    let index = format!("index = {INDEX}");
    let key = format!("key k1 = {K1}");
    let cases: Vec<(String, usize, &str)> = vec![
        // (file, line of the error, fragment of the reason)
        (
            format!("{index}\n{key}\nactive k1\n"),
            3,
            "expected `name = value`",
        ),
        (
            format!("{index}\nkeys k1 = {K1}\nactive = k1\n"),
            2,
            "unknown setting",
        ),
        (
            format!("{index}\n= {K1}\nactive = k1\n"),
            2,
            "unknown setting",
        ),
        (
            format!("{index}\nkey k1 extra = {K1}\nactive = k1\n"),
            2,
            "unknown setting",
        ),
        (
            format!("index = {}\n{key}\nactive = k1\n", &INDEX[..62]),
            1,
            "index key must be 64 hex digits",
        ),
        (
            format!("index = {INDEX}00\n{key}\nactive = k1\n"),
            1,
            "index key must be 64 hex digits",
        ),
        (
            format!("index = {}zz\n{key}\nactive = k1\n", &INDEX[..62]),
            1,
            "index key contains a character that is not a hex digit",
        ),
        (
            format!("index = {}\n{key}\nactive = k1\n", "0".repeat(64)),
            1,
            "all zeros",
        ),
        (
            format!("index = \n{key}\nactive = k1\n"),
            1,
            "index key must be 64 hex digits",
        ),
        (
            format!("{index}\n{key}\n{index}\nactive = k1\n"),
            3,
            "second `index` line",
        ),
        (
            format!("{index}\nkey = {K1}\nactive = k1\n"),
            2,
            "`key` needs an id",
        ),
        (
            format!("{index}\nkey k.1 = {K1}\nactive = k1\n"),
            2,
            "key id must match",
        ),
        (
            format!("{index}\nkey abcdefghijklmnopq = {K1}\nactive = k1\n"),
            2,
            "key id must match",
        ),
        (
            format!("{index}\nkey k1 = {}\nactive = k1\n", &K1[..30]),
            2,
            "key `k1` must be 32 hex digits",
        ),
        (
            format!("{index}\nkey k1 = {INDEX}\nactive = k1\n"),
            2,
            "key `k1` must be 32 hex digits",
        ),
        (
            format!("{index}\nkey k1 = 0x{}\nactive = k1\n", &K1[..30]),
            2,
            "not a hex digit",
        ),
        (
            format!("{index}\nkey k1 = {}\nactive = k1\n", "0".repeat(32)),
            2,
            "all zeros",
        ),
        (
            format!("{index}\n{key}\nkey k1 = {K2}\nactive = k1\n"),
            3,
            "duplicate key id `k1`",
        ),
        (
            format!("{index}\n{key}\nactive = k1\nactive = k1\n"),
            4,
            "second `active` line",
        ),
        (
            format!("{index}\n{key}\nactive = \n"),
            3,
            "active key id must match",
        ),
        (
            format!("{index}\n{key}\nactive = k 1\n"),
            3,
            "active key id must match",
        ),
        (
            format!("{index}\n{key}\n\n# rotate soon\nactive = k2\n"),
            5,
            "active key `k2` has no `key k2 = …` line",
        ),
    ];
    for (text, want_line, want_reason) in cases {
        let (line, reason) = key_file_error(&text);
        assert_eq!(line, Some(want_line), "{reason}\n---\n{text}");
        assert!(
            reason.contains(want_reason),
            "{reason:?} lacks {want_reason:?}\n---\n{text}"
        );
    }
}

#[test]
fn whole_file_errors() {
    let index = format!("index = {INDEX}");
    let key = format!("key k1 = {K1}");
    let cases = [
        (String::new(), "no `index"),
        ("# only a comment\n\n".to_owned(), "no `index"),
        (format!("{key}\nactive = k1\n"), "no `index"),
        (format!("{index}\nactive = k1\n"), "no `key"),
        (format!("{index}\n{key}\n"), "no `active"),
        (format!("{index}\n{key}\n# active = k1\n"), "no `active"),
    ];
    for (text, want) in cases {
        let (line, reason) = key_file_error(&text);
        assert_eq!(line, None, "{reason}");
        assert!(reason.contains(want), "{reason:?} lacks {want:?}");
    }
}

#[test]
fn error_display_names_the_line() {
    let text = format!("index = {INDEX}\nkey k1 = {K1}\nactive = nope\n");
    let err = Keyring::from_text(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "key file, line 3: active key `nope` has no `key nope = …` line"
    );
}
