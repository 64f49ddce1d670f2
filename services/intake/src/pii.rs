//! Reporter PII at rest, sealed with the key `intake.pii_key` (see [`civicgrid_kit::seal`]).

pub use civicgrid_kit::seal::{Cipher as PiiCipher, SealError as PiiError};
