"""Cycle-level engines: closed-form models of accelerator datapaths (see `systolic`)."""
