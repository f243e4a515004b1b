mod directory;
mod support;
