//! The directory groups whose members administer Gatehouse.
