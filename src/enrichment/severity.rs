//! The ENISA 2013 severity assessment, offered to the controller as advice:
//! `SE = DPC × EI + CB`.

use crate::domain::{
    AssumedInput, BreachCategory, CauseOrigin, DataCategory, EaseOfIdentification, Report,
    Severity, SeverityLevel,
};

/// Scores the breach for the data categories one client has at stake.
///
/// - DPC: the highest category's base score, moved by the staff's
///   `dpc_adjustment` within 1..=4.
/// - EI: the staff's `ease_of_identification`, `significant` when not given,
///   and `negligible` when the data were unintelligible.
///
/// Inputs taken by default (EI not given, categories not yet known) are
/// listed in `assumed`.
/// - CB: confidentiality 0.25, or 0.5 when the data may have reached an
///   unknown audience (publication, theft, ransomware, or a malicious outsider);
///   integrity 0.25, or 0.5 when altered on purpose; availability 0.25, or 0.5
///   when destroyed; plus 0.5 for malicious intent.
pub fn assess(categories: &[DataCategory], report: &Report) -> Severity {
    let inputs = report.severity_inputs.unwrap_or_default();
    let base = categories.iter().map(|c| c.enisa_dpc()).max().unwrap_or(1);
    let dpc = (i16::from(base) + i16::from(inputs.dpc_adjustment)).clamp(1, 4) as u8;

    let mut assumed = Vec::new();
    if report.personal_data.categories.known().is_none() {
        assumed.push(AssumedInput::PersonalDataCategories);
    }
    let ei = if report.personal_data.unintelligible {
        EaseOfIdentification::Negligible
    } else {
        inputs.ease_of_identification.unwrap_or_else(|| {
            assumed.push(AssumedInput::EaseOfIdentification);
            EaseOfIdentification::Significant
        })
    }
    .score();

    let malicious = report.cause.malicious;
    let wide_exposure = matches!(
        report.category,
        BreachCategory::Publication | BreachCategory::Theft | BreachCategory::Ransomware
    ) || (malicious && report.cause.origin == CauseOrigin::External);
    let nature = report.nature;
    let mut cb = 0.0;
    if nature.confidentiality {
        cb += if wide_exposure { 0.5 } else { 0.25 };
    }
    if nature.integrity {
        cb += if malicious { 0.5 } else { 0.25 };
    }
    if nature.availability {
        cb += if report.category == BreachCategory::Destruction {
            0.5
        } else {
            0.25
        };
    }
    if malicious {
        cb += 0.5;
    }

    let score = f64::from(dpc) * ei + cb;
    let level = match score {
        s if s < 2.0 => SeverityLevel::Low,
        s if s < 3.0 => SeverityLevel::Medium,
        s if s < 4.0 => SeverityLevel::High,
        _ => SeverityLevel::VeryHigh,
    };
    Severity {
        method: "ENISA-2013".into(),
        dpc,
        ei,
        cb,
        score,
        level,
        advisory: true,
        assumed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DataCategory::*;
    use crate::domain::SeverityInputs;

    fn report(json: serde_json::Value) -> Report {
        let mut base = serde_json::json!({
            "became_aware_at": "2026-11-22T07:30:00Z",
            "occurred": {"from": "2026-11-21T22:00:00Z", "ongoing": false},
            "discovery": "d", "location": "l", "summary": "s",
            "nature": {"confidentiality": true, "integrity": false, "availability": false},
            "category": "misdelivery",
            "cause": {"origin": "internal", "malicious": false},
            "affected": {"systems": ["lms"]},
            "data_subjects": {"categories": ["pupils"]},
            "personal_data": {"categories": ["contact"], "unintelligible": false},
            "likely_consequences": [], "measures": {"taken": [], "proposed": []},
            "reporter": {"name": "r", "email": "r@example.org"}
        });
        for (k, v) in json.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn misdirected_email_with_contact_details_is_low() {
        // ENISA worked example: an email with contact data sent to the wrong
        // recipient by mistake. DPC 1, EI 0.75, CB 0.25 => 1.0, low.
        let s = assess(&[Contact], &report(serde_json::json!({})));
        assert_eq!((s.dpc, s.ei, s.cb, s.score), (1, 0.75, 0.25, 1.0));
        assert_eq!(s.level, SeverityLevel::Low);
    }

    #[test]
    fn external_attack_on_health_data_is_very_high() {
        // Malicious outsider exfiltrates health records with full names:
        // DPC 4, EI 1, CB 0.5 (wide exposure) + 0.5 (malicious) => 5.0.
        let mut r = report(serde_json::json!({
            "category": "unauthorised_access",
            "cause": {"origin": "external", "malicious": true}
        }));
        r.severity_inputs = Some(SeverityInputs {
            ease_of_identification: Some(EaseOfIdentification::Maximum),
            dpc_adjustment: 0,
        });
        let s = assess(&[Identification, Health], &r);
        assert_eq!((s.dpc, s.ei, s.cb, s.score), (4, 1.0, 1.0, 5.0));
        assert_eq!(s.level, SeverityLevel::VeryHigh);
    }

    #[test]
    fn payroll_loss_is_medium_and_encryption_lowers_it() {
        // A lost laptop holding salary data: DPC 3 (financial), EI 0.75,
        // confidentiality 0.25 + availability 0.25 => 2.75, medium.
        let lost = serde_json::json!({
            "category": "loss",
            "nature": {"confidentiality": true, "integrity": false, "availability": true}
        });
        let s = assess(&[Identification, Financial], &report(lost.clone()));
        assert_eq!((s.dpc, s.cb, s.score), (3, 0.5, 2.75));
        assert_eq!(s.level, SeverityLevel::Medium);

        // The same laptop with full-disk encryption: EI negligible => 1.25, low.
        let mut encrypted = report(lost);
        encrypted.personal_data.unintelligible = true;
        let s = assess(&[Identification, Financial], &encrypted);
        assert_eq!((s.ei, s.score, s.level), (0.25, 1.25, SeverityLevel::Low));
    }

    #[test]
    fn adjustment_stays_within_one_to_four() {
        let mut r = report(serde_json::json!({}));
        r.severity_inputs = Some(SeverityInputs {
            ease_of_identification: None,
            dpc_adjustment: 1,
        });
        assert_eq!(assess(&[Health], &r).dpc, 4);
        r.severity_inputs = Some(SeverityInputs {
            ease_of_identification: None,
            dpc_adjustment: -1,
        });
        assert_eq!(assess(&[Contact], &r).dpc, 1);
        assert_eq!(assess(&[Financial], &r).dpc, 2);
    }

    #[test]
    fn ransomware_on_payroll_is_high() {
        // Ransomware encrypts and exfiltrates payroll data: DPC 3, EI 0.75,
        // CB 0.5 (C, wide) + 0.25 (A) + 0.5 (malicious) = 1.25 => 3.5, high.
        let r = report(serde_json::json!({
            "category": "ransomware",
            "nature": {"confidentiality": true, "integrity": false, "availability": true},
            "cause": {"origin": "external", "malicious": true}
        }));
        let s = assess(&[Financial], &r);
        assert_eq!((s.cb, s.score, s.level), (1.25, 3.5, SeverityLevel::High));
    }

    #[test]
    fn defaulted_inputs_are_listed_as_assumed() {
        let given = report(serde_json::json!({}));
        assert_eq!(
            assess(&[Contact], &given).assumed,
            [AssumedInput::EaseOfIdentification]
        );

        // Unintelligible data set EI themselves; nothing is assumed.
        let mut encrypted = report(serde_json::json!({}));
        encrypted.personal_data.unintelligible = true;
        assert!(assess(&[Contact], &encrypted).assumed.is_empty());

        let mut unknown = report(serde_json::json!({
            "personal_data": {"categories": "not_yet_known", "unintelligible": false}
        }));
        unknown.severity_inputs = Some(SeverityInputs {
            ease_of_identification: Some(EaseOfIdentification::Limited),
            dpc_adjustment: 0,
        });
        assert_eq!(
            assess(&[Contact], &unknown).assumed,
            [AssumedInput::PersonalDataCategories]
        );
    }
}
