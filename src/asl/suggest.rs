//! "Did you mean" suggestions for misspelled names (states, fields, error names).

/// Names longer than this (in characters) get no suggestion: typos are looked for among
/// short identifiers, and the distance computation is quadratic in the length.
const MAX_LEN: usize = 256;

/// The candidate closest to `wrong`, if it is close enough to be a likely typo.
///
/// A candidate equal to `wrong` ignoring case is the best match. Otherwise the distance is
/// the optimal string alignment distance (insertions, deletions, substitutions and swaps of
/// adjacent characters) between the lowercased names, and it must not exceed a third of
/// `wrong`'s length (at least 1). Ties go to the candidate that sorts first, so the answer
/// does not depend on the iteration order of a hash map. A candidate identical to `wrong`
/// is never suggested.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wrong_chars: Vec<char> = wrong.chars().flat_map(char::to_lowercase).collect();
    if wrong_chars.is_empty() || wrong_chars.len() > MAX_LEN {
        return None;
    }
    let limit = (wrong_chars.len() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == wrong {
            continue;
        }
        let candidate_chars: Vec<char> = candidate.chars().flat_map(char::to_lowercase).collect();
        if candidate_chars.len() > MAX_LEN
            || candidate_chars.len().abs_diff(wrong_chars.len()) > limit
        {
            continue;
        }
        let distance = edit_distance(&wrong_chars, &candidate_chars);
        if distance > limit {
            continue;
        }
        let better = match best {
            None => true,
            Some((best_distance, best_name)) => (distance, candidate) < (best_distance, best_name),
        };
        if better {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

/// Optimal string alignment distance: Levenshtein plus transposition of adjacent characters.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Three rolling rows: `before` is row i-2, `previous` row i-1, `current` row i.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut value = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(before[j - 2] + 1);
            }
            current[j] = value;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wrong: &str, candidates: &[&str], expect: Option<&str>) {
        assert_eq!(
            did_you_mean(wrong, candidates.iter().copied()),
            expect,
            "did_you_mean({wrong:?}, {candidates:?})"
        );
    }

    #[test]
    fn suggestions() {
        let states = ["Charge", "Refund", "NotifyCustomer", "Done"];
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            // Swapped adjacent letters count as one edit.
            ("Chrage", &states, Some("Charge")),
            ("Refnud", &states, Some("Refund")),
            // Case-insensitive equality wins.
            ("charge", &states, Some("Charge")),
            ("DONE", &states, Some("Done")),
            // Insertion, deletion, substitution.
            ("Charges", &states, Some("Charge")),
            ("Charg", &states, Some("Charge")),
            ("Chorge", &states, Some("Charge")),
            ("NotifyCustomr", &states, Some("NotifyCustomer")),
            ("NotfyCustomr", &states, Some("NotifyCustomer")),
            // Short names still allow one edit.
            ("Don", &states, Some("Done")),
            ("Dine", &states, Some("Done")),
            // Too far.
            ("Xyz", &states, None),
            ("Payment", &states, None),
            ("Chxxge", &["Charge"], Some("Charge")),
            ("Cxxxge", &["Charge"], None),
            // Identical names are not suggestions.
            ("Charge", &["Charge"], None),
            ("Charge", &["Charge", "charge"], Some("charge")),
            // Nothing to suggest.
            ("", &states, None),
            ("Charge", &[], None),
            // Ties go to the name that sorts first, whatever the order given.
            ("Cat", &["Hat", "Bat"], Some("Bat")),
            ("Cat", &["Bat", "Hat"], Some("Bat")),
            // Nearest wins over first.
            (
                "ProcessOrder",
                &["ProcessOrders2", "ProcessOrdr"],
                Some("ProcessOrdr"),
            ),
            (
                "ResultPth",
                &["ResultSelector", "ResultPath", "Result"],
                Some("ResultPath"),
            ),
            ("ErrorEqual", &["ErrorEquals", "Error"], Some("ErrorEquals")),
            // Non-ASCII names are compared by character.
            ("Étape", &["étape", "Etape"], Some("étape")),
            ("Schritt1", &["Schritt2", "Schritt"], Some("Schritt")),
        ];
        for (wrong, candidates, expect) in cases {
            check(wrong, candidates, *expect);
        }
    }

    #[test]
    fn long_names_get_no_suggestion() {
        let long = "a".repeat(MAX_LEN + 1);
        let close = format!("{long}b");
        check(&long, &[close.as_str()], None);
    }

    #[test]
    fn distances() {
        let cases = [
            ("", "", 0),
            ("abc", "", 3),
            ("", "abc", 3),
            ("abc", "abc", 0),
            ("abc", "acb", 1),
            ("ca", "abc", 3),
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
        ];
        for (a, b, expect) in cases {
            let a: Vec<char> = a.chars().collect();
            let b: Vec<char> = b.chars().collect();
            assert_eq!(edit_distance(&a, &b), expect, "{a:?} vs {b:?}");
        }
    }
}
