//! A certificate authority made in the test, and a relay certificate it signs, as PEM files:
//! what a private relay's operator would have, so TLS is tested for real (handshake, chain
//! validation, names) without any certificate from outside.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// The files of a test PKI.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The authority's certificate (what clients are told to trust).
    pub ca: PathBuf,
    /// The relay's certificate, signed by the authority.
    pub cert: PathBuf,
    /// The relay's private key.
    pub key: PathBuf,
}

impl TestPki {
    /// Makes an authority and a relay certificate for `names` (host names or IP addresses) in
    /// `dir`.
    pub fn create(dir: &Path, names: &[&str]) -> TestPki {
        std::fs::create_dir_all(dir).expect("a folder for the certificates");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Jamwire test CA");
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).expect("relay certificate params");
        let key = KeyPair::generate().expect("a relay key");
        let cert = params
            .signed_by(&key, &issuer)
            .expect("the relay certificate");
        let pki = TestPki {
            ca: dir.join("ca.pem"),
            cert: dir.join("relay.pem"),
            key: dir.join("relay.key"),
        };
        std::fs::write(&pki.ca, ca_cert.pem()).expect("write ca.pem");
        std::fs::write(&pki.cert, cert.pem()).expect("write relay.pem");
        std::fs::write(&pki.key, key.serialize_pem()).expect("write relay.key");
        pki
    }
}
