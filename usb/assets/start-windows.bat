@echo off
rem Starts BorgIOS from this stick on Windows: double-click this file.
rem Everything BorgIOS keeps is written to the stick's data folder.
setlocal
set "BORGIOS_PORTABLE=%~dp0."
"%~dp0bin\windows-amd64\borgios.exe" %*
if errorlevel 1 pause
endlocal
