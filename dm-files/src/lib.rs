//! Owner-only, atomic, durable writes of the files a DM device or server
//! keeps (to be filled by the move of the one robust implementation).
