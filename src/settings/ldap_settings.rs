//! The LDAP connection settings in the database (see issue 3): owned by the settings helper.
