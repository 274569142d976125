//! The JSON parser against serde_json: both accept the same documents and refuse the same,
//! with the same message and position; an accepted document prints as serde_json prints it;
//! `from_slice_keeping` gives `from_slice`'s error on an invalid document and the named
//! fields of a valid object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepstream::json;

fuzz_target!(|data: &[u8]| {
    let ours = json::from_slice(data);
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    match (&ours, &theirs) {
        (Ok(value), Ok(expected)) => {
            let printed = json::to_vec(value);
            let expected_text = serde_json::to_vec(expected).expect("serde_json prints");
            assert_eq!(
                printed,
                expected_text,
                "printed differently: {}",
                String::from_utf8_lossy(data)
            );
            let again = json::from_slice(&printed).expect("printed JSON parses");
            assert_eq!(&again, value, "round trip");
        }
        (Err(error), Err(expected)) => {
            assert_eq!(error.to_string(), expected.to_string(), "the error differs");
        }
        _ => panic!(
            "validity differs: ours {:?}, serde_json {:?}, input {:?}",
            ours.as_ref().err().map(ToString::to_string),
            theirs.as_ref().err().map(ToString::to_string),
            String::from_utf8_lossy(data)
        ),
    }
    let keep = [
        json::Str::from("a"),
        json::Str::from("id"),
        json::Str::from(""),
    ];
    match (json::from_slice_keeping(data, &keep), &ours) {
        (Ok((kept, _)), Ok(full)) => {
            if let (Some(kept), Some(full)) = (kept.as_object(), full.as_object()) {
                for key in &keep {
                    assert_eq!(kept.get(key), full.get(key), "field {key:?}");
                }
            } else {
                assert_eq!(&kept, full, "a non-object is kept whole");
            }
        }
        (Err(error), Err(expected)) => {
            assert_eq!(
                error.to_string(),
                expected.to_string(),
                "keeping parser's error"
            );
        }
        (kept, full) => panic!(
            "keeping parser disagrees: {:?} vs {:?}",
            kept.err().map(|e| e.to_string()),
            full.as_ref().err().map(ToString::to_string)
        ),
    }
});
