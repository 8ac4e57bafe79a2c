from reconciler.cli import main_entry

main_entry()
