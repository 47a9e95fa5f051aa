from mockksef.cli import main

main()
