"""The wizard's steps, one Screen each, plus the modals."""
