from maskcls.cli import main

main()
