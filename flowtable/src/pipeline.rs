//! The multi-table pipeline: a key in, datapath actions and a megaflow mask out.
