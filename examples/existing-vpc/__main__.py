from mlplatform.stacks.program import main

main()
