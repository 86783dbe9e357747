//! The translations of everything the email says that staff did not write:
//! labels, fixed sentences and every taxonomy value. They are data (one TOML
//! file per language, embedded at build time) so a translator can review a
//! language in one file without reading Rust.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::domain::Language;

use super::EmailError;

/// Section name, then key, then text; e.g. `label.summary`.
type Table = BTreeMap<String, BTreeMap<String, String>>;

/// English is the reference the tests hold every other language against.
const SOURCES: &[(Language, &str)] = &[
    (Language::En, include_str!("i18n/en.toml")),
    (Language::Nl, include_str!("i18n/nl.toml")),
    (Language::Fr, include_str!("i18n/fr.toml")),
    (Language::It, include_str!("i18n/it.toml")),
    (Language::Sv, include_str!("i18n/sv.toml")),
    (Language::De, include_str!("i18n/de.toml")),
];

/// Parsed once; a broken file is a build defect the unit tests catch, so at
/// run time it only turns every render into an error instead of a panic.
static CATALOGUES: LazyLock<Result<BTreeMap<Language, Table>, String>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(language, source)| {
            toml::from_str::<Table>(source)
                .map(|table| (*language, table))
                .map_err(|e| format!("translations for {:?}: {e}", language.as_str()))
        })
        .collect()
});

/// The texts of one language, falling back to English for a missing key (the
/// tests make sure none is missing, so the fallback only guards against a
/// language added to the taxonomy before its file).
#[derive(Clone, Copy)]
pub(super) struct Texts {
    language: Language,
    own: &'static Table,
    english: &'static Table,
}

pub(super) fn texts(language: Language) -> Result<Texts, EmailError> {
    let catalogues = CATALOGUES
        .as_ref()
        .map_err(|message| EmailError::Translations(message.clone()))?;
    let english = catalogues
        .get(&Language::En)
        .ok_or_else(|| EmailError::Translations("no English translations".into()))?;
    Ok(Texts {
        language,
        own: catalogues.get(&language).unwrap_or(english),
        english,
    })
}

impl Texts {
    pub(super) fn language(&self) -> Language {
        self.language
    }

    /// The text at `section.key`; the key itself when no language has it, so
    /// a gap shows up in review rather than as an empty label.
    pub(super) fn get<'k>(&self, section: &str, key: &'k str) -> &'k str {
        let lookup = |table: &'static Table| table.get(section).and_then(|s| s.get(key));
        lookup(self.own)
            .or_else(|| lookup(self.english))
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// The text at `section.key` with its `{name}` placeholders filled in.
    pub(super) fn fill(&self, section: &str, key: &str, args: &[(&str, &str)]) -> String {
        fill(self.get(section, key), args)
    }
}

/// Replaces `{name}` with the matching argument in one pass, so an argument
/// that itself contains `{client}` (a client may be called anything) is never
/// expanded again. Unknown placeholders are left as written.
pub(super) fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (close, *value))
        });
        match value {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::delivery::email::view;
    use crate::domain::{
        Availability, BreachCategory, Consequence, ContactStatus, CountBasis, CountPrecision,
        DataCategory, DataRestored, EaseOfIdentification, NoticeType, SubjectCategory,
        TransferSafeguard,
    };

    fn catalogues() -> &'static BTreeMap<Language, Table> {
        CATALOGUES.as_ref().expect("translations parse")
    }

    fn keys(table: &Table) -> BTreeSet<String> {
        table
            .iter()
            .flat_map(|(section, entries)| entries.keys().map(move |k| format!("{section}.{k}")))
            .collect()
    }

    fn placeholders(text: &str) -> BTreeSet<String> {
        text.split('{')
            .skip(1)
            .filter_map(|part| part.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    #[test]
    fn every_language_has_a_catalogue() {
        for language in Language::ALL {
            assert!(catalogues().contains_key(language), "{language:?}");
        }
    }

    #[test]
    fn every_language_has_exactly_the_english_keys() {
        let english = keys(&catalogues()[&Language::En]);
        for (language, table) in catalogues() {
            let own = keys(table);
            let missing: Vec<_> = english.difference(&own).collect();
            let extra: Vec<_> = own.difference(&english).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, not in English {extra:?}",
                language.as_str()
            );
        }
    }

    #[test]
    fn every_translation_keeps_the_english_placeholders_and_is_not_empty() {
        let english = &catalogues()[&Language::En];
        for (language, table) in catalogues() {
            for (section, entries) in table {
                for (key, text) in entries {
                    assert!(
                        !text.trim().is_empty(),
                        "{language:?} {section}.{key} is empty"
                    );
                    let reference = &english[section][key];
                    assert_eq!(
                        placeholders(text),
                        placeholders(reference),
                        "{} {section}.{key}",
                        language.as_str()
                    );
                }
            }
        }
    }

    #[test]
    fn other_languages_are_translated_not_copied() {
        // A few words are the same in several languages (spam, ransomware,
        // "Score"); a language that mostly repeats English was not translated.
        let english = &catalogues()[&Language::En];
        for (language, table) in catalogues() {
            if *language == Language::En {
                continue;
            }
            let (mut same, mut total) = (0, 0);
            for (section, entries) in table {
                for (key, text) in entries {
                    total += 1;
                    if *text == english[section][key] {
                        same += 1;
                    }
                }
            }
            assert!(
                same * 20 < total,
                "{language:?}: {same} of {total} as in English"
            );
        }
    }

    /// Every value of every closed taxonomy, and the two enums outside it that
    /// the email shows, has a text in every language.
    #[test]
    fn every_taxonomy_value_is_translated() {
        let mut wanted: Vec<(&str, &str)> = Vec::new();
        wanted.extend(
            DataCategory::ALL
                .iter()
                .map(|v| ("data_category", v.as_str())),
        );
        wanted.extend(
            SubjectCategory::ALL
                .iter()
                .map(|v| ("subject_category", v.as_str())),
        );
        wanted.extend(
            BreachCategory::ALL
                .iter()
                .map(|v| ("breach_category", v.as_str())),
        );
        wanted.extend(Consequence::ALL.iter().map(|v| ("consequence", v.as_str())));
        wanted.extend(
            CountPrecision::ALL
                .iter()
                .map(|v| ("precision", v.as_str())),
        );
        wanted.extend(
            EaseOfIdentification::ALL
                .iter()
                .map(|v| ("ease_of_identification", v.as_str())),
        );
        wanted.extend(
            TransferSafeguard::ALL
                .iter()
                .map(|v| ("transfer_safeguard", v.as_str())),
        );
        wanted.extend(Language::ALL.iter().map(|v| ("language", v.as_str())));
        wanted.extend(NoticeType::ALL.iter().map(|v| ("notice_type", v.as_str())));
        wanted.extend(
            view::SEVERITY_LEVELS
                .iter()
                .map(|v| ("severity_level", view::severity_key(*v))),
        );
        wanted.extend(
            view::CAUSE_ORIGINS
                .iter()
                .map(|v| ("cause_origin", view::cause_origin_key(*v))),
        );
        wanted.extend(
            view::ASSUMED_INPUTS
                .iter()
                .map(|v| ("assumed_input", v.as_str())),
        );
        wanted.extend(CountBasis::ALL.iter().map(|v| ("count_basis", v.as_str())));
        wanted.extend(
            Availability::ALL
                .iter()
                .map(|v| ("availability", v.as_str())),
        );
        wanted.extend(
            DataRestored::ALL
                .iter()
                .map(|v| ("data_restored", v.as_str())),
        );
        wanted.extend(
            ContactStatus::ALL
                .iter()
                .map(|v| ("contact_status", v.as_str())),
        );
        for (language, table) in catalogues() {
            for (section, key) in &wanted {
                assert!(
                    table.get(*section).is_some_and(|s| s.contains_key(*key)),
                    "{}: no {section}.{key}",
                    language.as_str()
                );
            }
        }
    }

    /// Guards the test above: a new closed enum in the taxonomy must get a
    /// translation section (or be listed here as not shown in emails).
    #[test]
    fn every_closed_taxonomy_is_covered() {
        let source = include_str!("../../domain/taxonomy.rs");
        let declared: BTreeSet<&str> = source
            .split("closed_enum!(")
            .skip(1)
            .filter_map(|block| {
                block
                    .lines()
                    .map(str::trim)
                    .find(|line| line.ends_with('{') && !line.starts_with("//"))
                    .and_then(|line| line.split_whitespace().next())
            })
            .collect();
        let covered: BTreeSet<&str> = [
            "DataCategory",
            "SubjectCategory",
            "BreachCategory",
            "Consequence",
            "CountPrecision",
            "EaseOfIdentification",
            "TransferSafeguard",
            "Language",
            "NoticeType",
        ]
        .into_iter()
        .collect();
        assert_eq!(declared, covered);
    }

    #[test]
    fn fill_replaces_known_placeholders_once() {
        let filled = fill(
            "[{reference}] notice — {client} {unknown}",
            &[("reference", "BG-2026-0001"), ("client", "{reference} Ltd")],
        );
        assert_eq!(filled, "[BG-2026-0001] notice — {reference} Ltd {unknown}");
        assert_eq!(fill("no braces", &[]), "no braces");
        assert_eq!(fill("open { only", &[("x", "y")]), "open { only");
    }

    #[test]
    fn lookups_use_the_language_and_fall_back_to_the_key() {
        let italian = texts(Language::It).expect("texts");
        assert_eq!(italian.get("nature", "confidentiality"), "riservatezza");
        assert_eq!(italian.get("label", "no_such_key"), "no_such_key");
    }
}
