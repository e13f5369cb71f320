; Inno Setup 6.3+ script: a Windows installer for the folder that
; `python packaging\build.py` made (dist\pn2v-studio). build.py runs it when ISCC.exe
; is on PATH; by hand, from the repository root:
;   iscc /DAppVersion=0.1.0 packaging\windows\pn2v-studio.iss
; It installs per user or for all users (the user chooses), makes Start-menu entries
; (the app, and its uninstaller) and, if asked, a desktop shortcut.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\pn2v-studio"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

[Setup]
AppId={{8E5840E6-24BB-4211-B689-DD79D6F161DF}
AppName=PN2V Studio
AppVersion={#AppVersion}
AppPublisher=PN2V Studio contributors
DefaultDirName={autopf}\PN2V Studio
DefaultGroupName=PN2V Studio
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=pn2v-studio-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icon.ico
UninstallDisplayIcon={app}\pn2v-studio.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; a new version's bundle replaces the old one's completely
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{group}\PN2V Studio"; Filename: "{app}\pn2v-studio.exe"
Name: "{group}\Uninstall PN2V Studio"; Filename: "{uninstallexe}"
Name: "{autodesktop}\PN2V Studio"; Filename: "{app}\pn2v-studio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\pn2v-studio.exe"; Description: "{cm:LaunchProgram,PN2V Studio}"; Flags: nowait postinstall skipifsilent
