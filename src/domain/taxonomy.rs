//! The closed taxonomies shared by reports, notices and agreements. The JSON
//! Schemas in `schemas/` list the same values so a client's tooling can map them.

use serde::{Deserialize, Serialize};

macro_rules! closed_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

closed_enum!(
    /// A category of personal data, including the special categories of
    /// Art. 9 and the criminal-offence data of Art. 10.
    DataCategory {
        Identification = "identification",
        Contact = "contact",
        Demographic = "demographic",
        Education = "education",
        Employment = "employment",
        OnlineIdentifiers = "online_identifiers",
        Location = "location",
        Behavioural = "behavioural",
        CommunicationsContent = "communications_content",
        Credentials = "credentials",
        Financial = "financial",
        NationalIdentifier = "national_identifier",
        SocialWelfare = "social_welfare",
        OfficialDocuments = "official_documents",
        RacialEthnicOrigin = "racial_ethnic_origin",
        PoliticalOpinions = "political_opinions",
        ReligiousBeliefs = "religious_beliefs",
        TradeUnionMembership = "trade_union_membership",
        Genetic = "genetic",
        Biometric = "biometric",
        Health = "health",
        SexLifeOrientation = "sex_life_orientation",
        CriminalConvictions = "criminal_convictions",
    }
);

impl DataCategory {
    /// The ENISA 2013 data processing context base score: 1 simple,
    /// 2 behavioural, 3 financial, 4 sensitive.
    pub fn enisa_dpc(self) -> u8 {
        use DataCategory::*;
        match self {
            Identification | Contact | Demographic | Education | Employment | OnlineIdentifiers => {
                1
            }
            Location | Behavioural | CommunicationsContent | Credentials => 2,
            Financial | NationalIdentifier | SocialWelfare | OfficialDocuments => 3,
            _ => 4,
        }
    }

    /// Art. 9 special categories and Art. 10 criminal-offence data.
    pub fn is_special(self) -> bool {
        self.enisa_dpc() == 4
    }
}

closed_enum!(
    /// A category of data subjects.
    SubjectCategory {
        Employees = "employees",
        JobApplicants = "job_applicants",
        Customers = "customers",
        Users = "users",
        Pupils = "pupils",
        Students = "students",
        Parents = "parents",
        Children = "children",
        Patients = "patients",
        Members = "members",
        Citizens = "citizens",
        Suppliers = "suppliers",
        Other = "other",
    }
);

closed_enum!(
    /// What kind of breach happened.
    BreachCategory {
        UnauthorisedAccess = "unauthorised_access",
        UnauthorisedDisclosure = "unauthorised_disclosure",
        Misdelivery = "misdelivery",
        Publication = "publication",
        Loss = "loss",
        Theft = "theft",
        Destruction = "destruction",
        Alteration = "alteration",
        Unavailability = "unavailability",
        Ransomware = "ransomware",
        Other = "other",
    }
);

closed_enum!(
    /// A likely consequence for the data subjects.
    Consequence {
        IdentityTheft = "identity_theft",
        Fraud = "fraud",
        FinancialLoss = "financial_loss",
        Phishing = "phishing",
        Spam = "spam",
        Discrimination = "discrimination",
        ReputationalDamage = "reputational_damage",
        LossOfConfidentiality = "loss_of_confidentiality",
        LossOfControl = "loss_of_control",
        PhysicalHarm = "physical_harm",
        PsychologicalHarm = "psychological_harm",
        Reidentification = "reidentification",
        Other = "other",
    }
);

closed_enum!(
    /// How precise an estimated number is.
    CountPrecision {
        Exact = "exact",
        Approximate = "approximate",
        UpperBound = "upper_bound",
    }
);

closed_enum!(
    /// ENISA 2013 ease of identification of the data subjects.
    EaseOfIdentification {
        Negligible = "negligible",
        Limited = "limited",
        Significant = "significant",
        Maximum = "maximum",
    }
);

impl EaseOfIdentification {
    pub fn score(self) -> f64 {
        match self {
            Self::Negligible => 0.25,
            Self::Limited => 0.5,
            Self::Significant => 0.75,
            Self::Maximum => 1.0,
        }
    }
}

closed_enum!(
    /// The legal basis for a transfer to a sub-processor outside the EEA.
    TransferSafeguard {
        NoneRequiredEea = "none_required_eea",
        AdequacyDecision = "adequacy_decision",
        StandardContractualClauses = "standard_contractual_clauses",
        BindingCorporateRules = "binding_corporate_rules",
        Derogation = "derogation",
    }
);

closed_enum!(
    /// The languages notices and emails are written in.
    Language {
        En = "en",
        Nl = "nl",
        Fr = "fr",
        It = "it",
        Sv = "sv",
        De = "de",
    }
);

closed_enum!(
    /// Where a notice stands in an incident's life.
    NoticeType {
        Initial = "breach.notice.initial",
        Update = "breach.notice.update",
        Final = "breach.notice.final",
        Retraction = "breach.notice.retraction",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_categories_are_exactly_art_9_and_10() {
        let special: Vec<_> = DataCategory::ALL
            .iter()
            .filter(|c| c.is_special())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(special.len(), 9);
        assert!(special.contains(&"health"));
        assert!(special.contains(&"criminal_convictions"));
        assert!(!special.contains(&"financial"));
    }

    #[test]
    fn serde_uses_the_schema_spelling() {
        let text = serde_json::to_string(&DataCategory::SexLifeOrientation).unwrap();
        assert_eq!(text, "\"sex_life_orientation\"");
        let parsed: NoticeType = serde_json::from_str("\"breach.notice.update\"").unwrap();
        assert_eq!(parsed, NoticeType::Update);
    }
}
