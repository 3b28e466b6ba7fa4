from cofounder.cli import main

main()
